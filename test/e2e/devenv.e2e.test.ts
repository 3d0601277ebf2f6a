// examples/devenv reproduces one environment wherever it is brought up: here two stacks of the
// example on two prefixes of this host (each prefix builds its own template with mmdebstrap from
// the host's mirror, as another host would), and the package-list change. The same program on a
// lab VM over SSH: test/lab/devenv.lab.test.ts.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive } from "../helpers/procs";
import { repoRoot, plainPulumiEnv } from "../helpers/stack";

interface Run {
  code: number;
  out: string;
  stdout: string;
}

describe("examples/devenv: the same environment from the same program", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-devenv-"));
  const project = join(work, "project");
  const workspace = join(work, "workspace");
  const id = testPrefix.replace(/^kslice-t/, "").slice(0, 6);
  // a and b: two "hosts" (prefixes), each with its own bridge and subnet
  const stacks = {
    a: { prefix: `${testPrefix}-deva`, subnet: "10.243.41.0/24", bridge: `ksdv${id}a` },
    b: { prefix: `${testPrefix}-devb`, subnet: "10.243.42.0/24", bridge: `ksdv${id}b` },
  };
  type StackName = keyof typeof stacks;
  const env = plainPulumiEnv(work);
  const run = (cmd: string, args: string[], cwd = project): Promise<Run> =>
    new Promise((resolve) => {
      execFile(cmd, args, { cwd, env, timeout: 290_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout + stderr, stdout }),
      );
    });
  const pulumi = (stack: StackName, ...args: string[]) => run("pulumi", [...args, "--non-interactive", "--stack", stack]);
  const outputs = async (stack: StackName) => JSON.parse((await pulumi(stack, "stack", "output", "--json")).stdout) as { pid: number; packages: string[] };
  /** Inside the container, through the kslice CLI's exec (the runtime's exec). */
  const exec = (stack: StackName, ...command: string[]) =>
    run(process.execPath, [join(repoRoot, "dist", "cli", "main.js"), "--prefix", stacks[stack].prefix, "exec", "dev", "--", ...command], repoRoot);
  const installed = async (stack: StackName) => {
    const r = await exec(stack, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n");
    expect(r.code, r.out).toBe(0);
    return r.stdout.trim().split("\n").sort();
  };
  const templates = (stack: StackName) => readdirSync(`/var/lib/${stacks[stack].prefix}/templates`).filter((d) => !d.startsWith("."));
  const deployed = new Set<StackName>();
  const packages = ["less", "make"];

  afterAll(async () => {
    for (const s of deployed) await pulumi(s, "destroy", "--yes", "--skip-preview");
    rmSync(work, { recursive: true, force: true });
  });

  it("brings the environment up on two hosts from the same program and package list", async () => {
    mkdirSync(project);
    mkdirSync(join(work, "state"));
    mkdirSync(workspace);
    writeFileSync(join(workspace, "README"), "the developer's checkout\n");
    const yaml = readFileSync(join(repoRoot, "examples", "devenv", "Pulumi.yaml"), "utf8");
    const main = relative(project, join(repoRoot, "dist", "examples", "devenv", "index.js"));
    writeFileSync(join(project, "Pulumi.yaml"), yaml.replace(/^main: .*$/m, `main: ${main}`));
    for (const [name, s] of Object.entries(stacks) as [StackName, (typeof stacks)[StackName]][]) {
      let r = await run("pulumi", ["stack", "init", name, "--non-interactive"]);
      expect(r.code, r.out).toBe(0);
      const config = { prefix: s.prefix, subnet: s.subnet, bridge: s.bridge, workspace, memory: "256Mi" };
      for (const [k, v] of Object.entries(config)) expect((await pulumi(name, "config", "set", k, v)).code).toBe(0);
      r = await pulumi(name, "config", "set", "--path", "packages", JSON.stringify(packages), "--path=false");
      expect(r.code, r.out).toBe(0);
      deployed.add(name);
      r = await pulumi(name, "up", "--yes", "--skip-preview");
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/4 created/);
      expect((await outputs(name)).packages).toEqual(packages);
    }
  });

  it("both have the same Debian packages at the same versions, the workspace, limits and network", async () => {
    const [a, b] = [await installed("a"), await installed("b")];
    expect(a).toEqual(b);
    for (const p of packages)
      expect(
        a.find((l) => l.startsWith(`${p} `)),
        a.join("\n"),
      ).toBeDefined();
    expect(a.length).toBeGreaterThan(50); // a Debian minbase, not a busybox tree
    for (const s of ["a", "b"] as const) {
      // the host's workspace, read-write, as the working directory
      const r = await exec(
        s,
        "sh",
        "-c",
        `pwd; cat README; echo from-${s} > from-${s}; hostname; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /proc/net/route | awk 'NR>1 && $2=="00000000" {print "default via", $1}'`,
      );
      expect(r.code, r.out).toBe(0);
      expect(r.stdout.trim().split("\n")).toEqual(["/workspace", "the developer's checkout", "devenv", String(256 * 2 ** 20), "default via eth0"]);
      expect(readFileSync(join(workspace, `from-${s}`), "utf8")).toBe(`from-${s}\n`);
    }
    const r = await pulumi("a", "preview", "--expect-no-changes");
    expect(r.code, r.out).toBe(0);
  });

  it("a change to the package list builds a new template and replaces the container; the workspace stays", async () => {
    const before = await outputs("b");
    expect(templates("b")).toHaveLength(1);
    const more = [...packages, "file"];
    let r = await pulumi("b", "config", "set", "--path", "packages", JSON.stringify(more), "--path=false");
    expect(r.code, r.out).toBe(0);
    r = await pulumi("b", "preview", "--json");
    expect(r.code, r.out).toBe(0);
    const steps = (JSON.parse(r.stdout) as { steps: { op: string; urn: string }[] }).steps.filter((s) => s.op !== "same" && s.op !== "refresh");
    expect(steps.map((s) => `${s.op} ${s.urn.split("::").pop()}`)).toEqual(["replace dev"]);
    r = await pulumi("b", "up", "--yes", "--skip-preview");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/1 replaced/);
    const after = await outputs("b");
    expect(after.pid).not.toBe(before.pid);
    expect(alive(before.pid)).toBe(false);
    expect(templates("b")).toHaveLength(2);
    const b = await installed("b");
    expect(b.find((l) => l.startsWith("file "))).toBeDefined();
    expect(b).not.toEqual(await installed("a"));
    expect((await exec("b", "cat", "/workspace/from-b")).stdout).toBe("from-b\n");
    r = await pulumi("b", "preview", "--expect-no-changes");
    expect(r.code, r.out).toBe(0);
  });

  it("destroy leaves nothing on either host; the workspace is the user's and stays", async () => {
    for (const s of ["a", "b"] as const) {
      const r = await pulumi(s, "destroy", "--yes", "--skip-preview");
      expect(r.code, r.out).toBe(0);
      deployed.delete(s);
      expect(leaksOf(stacks[s].prefix)).toEqual([]);
      expect(existsSync(`/var/lib/${stacks[s].prefix}`)).toBe(false);
    }
    expect(readFileSync(join(workspace, "README"), "utf8")).toBe("the developer's checkout\n");
  });
});
