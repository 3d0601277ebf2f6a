// The team setup of the README: a Pulumi self-managed backend in PostgreSQL (a real server of the
// test's own, Debian's package), examples/gitops/ci.sh run by two "pipelines" against it with the
// plain CLI, over SSH to this machine so that the stack holds a real secret (the deploy key).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { startPostgres, type LocalPostgres } from "../helpers/postgres";
import { testPrefix } from "../helpers/prefix";
import { startSshd, type LocalSshd } from "../helpers/sshd";
import { repoRoot, plainPulumiEnv } from "../helpers/stack";

const script = join(repoRoot, "examples", "gitops", "ci.sh");
const prefix = `${testPrefix}-pg`;

interface Run {
  code: number;
  out: string;
}

describe("PostgreSQL as the team backend: examples/gitops/ci.sh from two pipelines", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-pg-team-"));
  const project = join(work, "project");
  let pg: LocalPostgres;
  let sshd: LocalSshd;
  let env: NodeJS.ProcessEnv;
  let deployed = false;
  const run = (cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve) => {
      const e: NodeJS.ProcessEnv = { ...env, ...extra };
      delete e.GITHUB_REF_NAME;
      execFile(cmd, args, { cwd: project, env: e, timeout: 280_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout + stderr }),
      );
    });
  const ci = () => run("bash", [script, "--cwd", project], { CI_BRANCH: "main" });
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive", "--stack", "test"]);
  /** Starts a pipeline in a process group of its own (as a runner's job), so that it can be killed whole. */
  const startPipeline = (cmd: string, args: string[]): { child: ChildProcess; done: Promise<Run>; out: () => string } => {
    const e: NodeJS.ProcessEnv = { ...env, CI_BRANCH: "main" };
    delete e.GITHUB_REF_NAME;
    const child = spawn(cmd, args, { cwd: project, env: e, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.stderr!.on("data", (d: Buffer) => (out += d));
    const done = new Promise<Run>((resolve) => child.on("close", (code, signal) => resolve({ code: code ?? (signal ? -1 : 0), out })));
    return { child, done, out: () => out };
  };
  /** The DIY backend's lock objects of the stack (rows of the state table). */
  const locks = () => pg.query("select key from pulumi_state where key like '%/.pulumi/locks/%'").trim().split("\n").filter(Boolean);
  const waitFor = async (what: string, ok: () => boolean, ms = 120_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    pg = await startPostgres();
    sshd = await startSshd();
    env = plainPulumiEnv(work, { PULUMI_BACKEND_URL: pg.url, PULUMI_STACK: "test" });
    mkdirSync(project);
    const yaml = readFileSync(join(repoRoot, "examples", "gitops", "Pulumi.yaml"), "utf8");
    const main = relative(project, join(repoRoot, "dist", "examples", "gitops", "index.js"));
    writeFileSync(join(project, "Pulumi.yaml"), yaml.replace(/^main: .*$/m, `main: ${main}`));
  }, 120_000);

  afterAll(async () => {
    if (deployed) await pulumi("destroy", "--yes", "--skip-preview");
    await sshd?.stop();
    pg?.stop();
    rmSync(work, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  }, 300_000);

  it("the gitops flow: a stack in the database, main applies over SSH, the check is clean", async () => {
    let r = await run("pulumi", ["stack", "init", "test", "--non-interactive"]);
    expect(r.code, r.out).toBe(0);
    for (const [k, v] of <[string, string][]>[
      ["prefix", prefix],
      ["subnet", "10.252.30.0/24"],
      ["sshHost", "127.0.0.1"],
      ["sshPort", String(sshd.port)],
      ["sshHostKey", sshd.hostKey],
    ]) {
      r = await pulumi("config", "set", k, v);
      expect(r.code, r.out).toBe(0);
    }
    // the deploy key as secret config, from standard input (never on a command line)
    r = await new Promise<Run>((resolve) => {
      const child = execFile(
        "pulumi",
        ["config", "set", "--secret", "sshPrivateKey", "--non-interactive", "--stack", "test"],
        { cwd: project, env },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }),
      );
      child.stdin!.end(sshd.privateKey);
    });
    expect(r.code, r.out).toBe(0);
    expect(pg.query("select key from pulumi_state")).toMatch(/\.pulumi\/stacks\/kslice-gitops\/test\.json/);

    deployed = true;
    r = await ci();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/6 created/);
    expect(r.out).toContain("in sync: the host matches the repository (6 same)");
    expect(locks()).toEqual([]);
  });

  it("the state table holds the deploy key only as ciphertext", () => {
    // each row is one object of the backend's store, {"data": base64 of the file}: read both forms
    const rows = pg.query("select data::text from pulumi_state").trim().split("\n");
    const decoded = rows.map((row) => Buffer.from((JSON.parse(row) as { data: string }).data, "base64").toString("utf8"));
    expect(decoded.join("\n")).toMatch(/"kslice:index:Host"|dynamic\/kslice:Host/);
    const state = rows.join("\n") + decoded.join("\n");
    const keyBody = sshd.privateKey.split("\n").filter((l) => l && !l.startsWith("-----"));
    expect(keyBody.length).toBeGreaterThan(2);
    for (const line of keyBody) expect(state).not.toContain(line);
    expect(state).not.toContain("OPENSSH PRIVATE KEY");
    // secrets are there, encrypted by the stack's passphrase provider
    expect(state).toMatch(/"ciphertext"/);
    expect(state).toMatch(/"secrets_providers":\s*\{\s*"type":\s*"passphrase"/);
  });

  it("a second pipeline while the first runs is refused naming the lock; the first completes", async () => {
    const set = await pulumi("config", "set", "apiPids", "40");
    expect(set.code, set.out).toBe(0);
    const first = startPipeline("bash", [script, "--cwd", project]);
    // a preview (the check) takes no lock: wait for the first pipeline's up to hold it, then keep the
    // first where it is (SIGSTOP to its process group: a slow up) while the second runs, so that the
    // first cannot end before the second reaches its own up
    await waitFor("the first pipeline's up and its lock", () => first.out().includes("applying the repository") && locks().length === 1);
    process.kill(-first.child.pid!, "SIGSTOP");
    let second: Run;
    try {
      second = await ci();
    } finally {
      process.kill(-first.child.pid!, "SIGCONT");
    }
    expect(second.code, second.out).toBe(3);
    expect(second.out).toContain("ci.sh: pulumi up failed");
    expect(second.out).toMatch(/the stack is currently locked by 1 lock\(s\)/);
    expect(second.out).toContain("pulumi cancel");
    const done = await first.done;
    expect(done.code, done.out).toBe(0);
    expect(done.out).toMatch(/1 updated/);
    expect(done.out).toContain("in sync");
    expect(locks()).toEqual([]);
  });

  it("a pipeline killed mid-up leaves its lock; pulumi cancel clears it and the next pipeline applies", async () => {
    let r = await pulumi("config", "set", "apiPids", "48");
    expect(r.code, r.out).toBe(0);
    const killed = startPipeline("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", "test"]);
    await waitFor("the up's lock", () => locks().length === 1);
    process.kill(-killed.child.pid!, "SIGKILL"); // the runner's job is cancelled: its whole process group
    await killed.done;
    expect(locks()).toHaveLength(1);

    r = await ci();
    expect(r.code, r.out).toBe(3);
    expect(r.out).toMatch(/the stack is currently locked/);

    r = await pulumi("cancel", "--yes");
    expect(r.code, r.out).toBe(0);
    expect(locks()).toEqual([]);
    r = await ci();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("in sync");
    const out = JSON.parse((await pulumi("stack", "output", "--json")).out) as { api: { limits: { pids: { max: number } } } };
    expect(out.api.limits.pids.max).toBe(48);
  });

  it("destroy from the database-backed stack leaves nothing on the host", async () => {
    const r = await pulumi("destroy", "--yes", "--skip-preview");
    expect(r.code, r.out).toBe(0);
    deployed = false;
    expect(leaksOf(prefix)).toEqual([]);
  });
});
