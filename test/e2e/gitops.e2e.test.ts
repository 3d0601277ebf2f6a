// examples/gitops/ci.sh as a pipeline runs it: against a real stack of the example, driven by the
// plain pulumi CLI in a project directory of its own (file backend in a temp dir, passphrase from
// the environment). The program is the repository's compiled example (what its Pulumi.yaml runs).
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupFileOf } from "../helpers/cgroup-files";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive } from "../helpers/procs";
import { repoRoot, plainPulumiEnv } from "../helpers/stack";

const script = join(repoRoot, "examples", "gitops", "ci.sh");

interface Run {
  code: number;
  out: string;
}

describe("examples/gitops/ci.sh against a real stack", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-gitops-"));
  const project = join(work, "project");
  const prefix = `${testPrefix}-gitops`;
  const env = plainPulumiEnv(work, { PULUMI_STACK: "test" });
  const run = (cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve) => {
      const e: NodeJS.ProcessEnv = { ...env, ...extra };
      delete e.GITHUB_REF_NAME; // the test says which branch it is
      execFile(cmd, args, { cwd: project, env: e, timeout: 280_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout + stderr }),
      );
    });
  const ci = (branch: string) => run("bash", [script, "--cwd", project], { CI_BRANCH: branch });
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive", "--stack", "test"]);
  let deployed = false;

  afterAll(async () => {
    if (deployed) await pulumi("destroy", "--yes", "--skip-preview");
    rmSync(work, { recursive: true, force: true });
  });

  it("on main applies the repository to a new host; on a branch a clean host passes", async () => {
    mkdirSync(project);
    mkdirSync(join(work, "state"));
    // the example's Pulumi.yaml, its main pointing at the repository's compiled program
    const yaml = readFileSync(join(repoRoot, "examples", "gitops", "Pulumi.yaml"), "utf8");
    const main = relative(project, join(repoRoot, "dist", "examples", "gitops", "index.js"));
    writeFileSync(join(project, "Pulumi.yaml"), yaml.replace(/^main: .*$/m, `main: ${main}`));
    let r = await run("pulumi", ["stack", "init", "test", "--non-interactive"]);
    expect(r.code, r.out).toBe(0);
    r = await pulumi("config", "set", "prefix", prefix);
    expect(r.code, r.out).toBe(0);
    r = await pulumi("config", "set", "subnet", "10.247.65.0/24");
    expect(r.code, r.out).toBe(0);

    deployed = true;
    r = await ci("main");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/6 created/);
    expect(r.out).toMatch(/in sync: the host matches the repository/);

    r = await ci("feature/x");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("in sync: the host matches the repository (6 same)");
    expect(r.out).not.toMatch(/Updating|created|updated/);
  });

  it("a limit changed by hand fails a branch's check, naming the resource and the property with both values", async () => {
    const out = JSON.parse((await pulumi("stack", "output", "--json")).out) as { api: { pid: number } };
    expect(alive(out.api.pid)).toBe(true);
    const file = cgroupFileOf(out.api.pid, "pids", "pids.max");
    expect(file).toContain(`/${prefix}/team/api/`);
    expect(readFileSync(file, "utf8").trim()).toBe("32");
    writeFileSync(file, "99");

    const r = await ci("feature/x");
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain("DRIFT: the host differs from the repository (1 to update)");
    const row = r.out.split("\n").find((l) => l.startsWith("Container api"));
    expect(row?.split(/\s{2,}/), r.out).toEqual(["Container api", "update", "limits.pids.max", "99", "32", "on the host"]);
    // a check changes nothing
    expect(readFileSync(file, "utf8").trim()).toBe("99");
  });

  it("on main puts the limit back live (same init) and the next check is clean", async () => {
    const before = JSON.parse((await pulumi("stack", "output", "--json")).out) as { api: { pid: number } };
    const file = cgroupFileOf(before.api.pid, "pids", "pids.max");
    let r = await ci("main");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("Container api  update  limits.pids.max  99");
    expect(r.out).toMatch(/1 updated/);
    expect(readFileSync(file, "utf8").trim()).toBe("32");
    const after = JSON.parse((await pulumi("stack", "output", "--json")).out) as { api: { pid: number } };
    expect(after.api.pid).toBe(before.api.pid);

    r = await ci("feature/x");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("in sync");
  });

  it("a program that cannot run is a pulumi failure (exit 3), not drift", async () => {
    const r = await run("bash", [script, "--cwd", project, "--stack", "nosuchstack"], { CI_BRANCH: "feature/x" });
    expect(r.code, r.out).toBe(3);
    expect(r.out).toMatch(/pulumi preview failed/);
    expect(r.out).toMatch(/nosuchstack/);
  });

  it("destroy leaves nothing on the host", async () => {
    const r = await pulumi("destroy", "--yes", "--skip-preview");
    expect(r.code, r.out).toBe(0);
    deployed = false;
    expect(leaksOf(prefix)).toEqual([]);
  });
});
