// examples/devenv on another host: the same program brought up on this machine and on a lab VM
// over SSH gives the same Debian packages at the same versions. The VM builds its own template
// with mmdebstrap, as any host would; its only way out is the Debian mirror, forwarded by QEMU
// (lab option `mirror`: the guest reaches it at 10.0.2.100:80, named in its /etc/hosts). The
// package-list change (new template, container replaced) is tested on this host
// (test/e2e/devenv.e2e.test.ts): a second template build under TCG would double this test's time.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sshRun, useLab, type LabHost } from "../helpers/lab";
import { leaksOf } from "../helpers/leaks";
import { hostMirror, mirrorOption } from "./mirror";
import { testPrefix } from "../helpers/prefix";
import { repoRoot, plainPulumiEnv } from "../helpers/stack";
import { shellQuote as q } from "../../provider/transport/transport";

interface Run {
  code: number;
  out: string;
  stdout: string;
}

describe("examples/devenv: the same environment on this host and on a lab VM", () => {
  const mirror = hostMirror();
  if (!mirror) throw new Error("no plain-HTTP Debian mirror in this machine's apt sources");
  const lab = useLab(1, { mirror: mirrorOption() });
  const vm = (): LabHost => lab().hosts[0]!;
  const work = mkdtempSync(join(tmpdir(), "kslice-devlab-"));
  const project = join(work, "project");
  const id = testPrefix.replace(/^kslice-t/, "").slice(0, 6);
  const here = { prefix: `${testPrefix}-devh`, subnet: "10.243.51.0/24", bridge: `ksdv${id}h` };
  const there = { prefix: `${testPrefix}-devv`, subnet: "10.243.52.0/24", bridge: `ksdv${id}v` };
  const packages = ["less", "make"];
  const env = plainPulumiEnv(work);
  const run = (cmd: string, args: string[], input?: string, timeout = 280_000): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(cmd, args, { cwd: project, env, timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout + stderr, stdout }),
      );
      child.stdin?.end(input ?? "");
    });
  const pulumi = (stack: string, args: string[], input?: string, timeout?: number) =>
    run("pulumi", [...args, "--non-interactive", "--stack", stack], input, timeout);
  const deployed = new Set<string>();
  const dpkg = "dpkg-query -W -f '${Package} ${Version}\\n'";
  const sorted = (s: string) => s.trim().split("\n").sort();

  afterAll(async () => {
    for (const s of deployed) await pulumi(s, ["destroy", "--yes", "--skip-preview"], undefined, 600_000);
    // the guest as this file found it (it may be the tier's shared one)
    await sshRun(vm(), "sed -i '/^10\\.0\\.2\\.100 /d' /etc/hosts; rm -rf /srv/devenv").catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }, 900_000);

  async function stack(name: string, config: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
    let r = await run("pulumi", ["stack", "init", name, "--non-interactive"]);
    expect(r.code, r.out).toBe(0);
    for (const [k, v] of Object.entries(config)) expect((await pulumi(name, ["config", "set", k, v])).code).toBe(0);
    // the key on stdin: never in a process's arguments
    for (const [k, v] of Object.entries(secrets)) expect((await pulumi(name, ["config", "set", "--secret", k], v)).code).toBe(0);
    r = await pulumi(name, ["config", "set", "--path", "packages", JSON.stringify(packages), "--path=false"]);
    expect(r.code, r.out).toBe(0);
  }

  it("up here and up on the VM over SSH (each builds its template) give the same package versions", async () => {
    mkdirSync(project);
    mkdirSync(join(work, "state"));
    const yaml = readFileSync(join(repoRoot, "examples", "devenv", "Pulumi.yaml"), "utf8");
    const main = relative(project, join(repoRoot, "dist", "examples", "devenv", "index.js"));
    writeFileSync(join(project, "Pulumi.yaml"), yaml.replace(/^main: .*$/m, `main: ${main}`));

    // the VM: the mirror's name points at the forward; a workspace directory
    const prep = await sshRun(vm(), `echo '10.0.2.100 ${mirror.hostname}' >> /etc/hosts && mkdir -p /srv/devenv/workspace && command -v mmdebstrap`);
    expect(prep.exitCode, prep.stderr).toBe(0);
    const workspace = join(work, "workspace");
    mkdirSync(workspace);

    await stack("here", { ...here, workspace, memory: "256Mi" });
    await stack(
      "vm",
      { ...there, workspace: "/srv/devenv/workspace", memory: "256Mi", sshHost: vm().ssh.host, sshPort: String(vm().ssh.port), sshHostKey: vm().ssh.hostKey },
      { sshPrivateKey: vm().ssh.privateKey },
    );

    deployed.add("here");
    let r = await pulumi("here", ["up", "--yes", "--skip-preview"]);
    expect(r.code, r.out).toBe(0);
    deployed.add("vm");
    const started = Date.now();
    r = await pulumi("vm", ["up", "--yes", "--skip-preview"], undefined, 1_100_000);
    console.log(`[devenv lab] up on the VM (template build under TCG included): ${((Date.now() - started) / 1000).toFixed(0)} s`);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/4 created/);

    const local = await run(process.execPath, [join(repoRoot, "dist", "cli", "main.js"), "--prefix", here.prefix, "exec", "dev", "--", "sh", "-c", dpkg]);
    expect(local.code, local.out).toBe(0);
    const remote = await sshRun(vm(), `crun --root /run/${there.prefix}/runtime exec dev sh -c ${q(dpkg)}`, undefined, { timeoutMs: 120_000 });
    expect(remote.exitCode, remote.stderr).toBe(0);
    expect(sorted(remote.stdout)).toEqual(sorted(local.stdout));
    for (const p of packages) expect(sorted(remote.stdout).find((l) => l.startsWith(`${p} `))).toBeDefined();
    // the init's working directory (crun exec itself starts in /), host name, memory limit
    const inside = await sshRun(
      vm(),
      `crun --root /run/${there.prefix}/runtime exec dev sh -c 'readlink /proc/1/cwd; hostname; cat /sys/fs/cgroup/memory.max'`,
    );
    expect(inside.stdout.trim().split("\n")).toEqual(["/workspace", "devenv", String(256 * 2 ** 20)]);
  }, 1_500_000);

  it("destroy leaves nothing under either prefix", async () => {
    let r = await pulumi("vm", ["destroy", "--yes", "--skip-preview"], undefined, 600_000);
    expect(r.code, r.out).toBe(0);
    deployed.delete("vm");
    const left = await sshRun(vm(), `ls -d /var/lib/${there.prefix} /run/${there.prefix} /sys/fs/cgroup/${there.prefix} 2>/dev/null; true`);
    expect(left.stdout.trim()).toBe("");
    r = await pulumi("here", ["destroy", "--yes", "--skip-preview"]);
    expect(r.code, r.out).toBe(0);
    deployed.delete("here");
    expect(leaksOf(here.prefix)).toEqual([]);
  }, 900_000);
});
