// A secret in a container's env, through the real engine: no process's arguments ever show it
// (scanned as an unprivileged user during the up), the state keeps it encrypted, and the bundle
// that holds it (config.json) and the container's files are root's alone.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { asNobody } from "../helpers/procs";
import { parseRun, TestStack, type StackRun } from "../helpers/stack";

const prefix = `${testPrefix}-sec`;
const token = `tok${randomBytes(12).toString("hex")}`;

/** Every file under dir, recursively. */
const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));

/**
 * `up` under strace, which records every execve of the runner's process tree with whole arguments.
 * The tree outlives the runner (the host's supervisor, the containers): strace is stopped (it
 * detaches) once the trace shows the runner itself exited.
 */
async function tracedUp(stack: TestStack, trace: string): Promise<StackRun> {
  const { argv, env } = stack.command("up");
  const strace = spawn("strace", ["-f", "-q", "-e", "trace=execve", "-s", "1000000", "-o", trace, ...argv], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  strace.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  strace.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 240_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const text = existsSync(trace) ? readFileSync(trace, "utf8") : "";
    const root = /^(\d+) /.exec(text)?.[1];
    const exit = root ? new RegExp(`^${root} +\\+\\+\\+ exited with (\\d+)`, "m").exec(text) : null;
    if (exit || Date.now() > deadline) {
      strace.kill("SIGKILL"); // its tracees are detached and run on (SIGTERM waits for them)
      await new Promise((r) => strace.once("exit", r));
      return parseRun(exit?.[1] === "0", stdout, stderr);
    }
  }
}

describe("a secret env value through the real engine", () => {
  const scratch = mkdtempSync(join(tmpdir(), "kslice-scan-"));
  // every execve of the runner, the engine, the provider and the host commands, with whole
  // arguments: a scan of /proc can miss a process that lives a millisecond, this cannot
  const trace = join(scratch, "execve");
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/secret-env/index.js",
    config: { "kslice:prefix": prefix },
  });
  stack.secrets["kslice:token"] = token;
  let scanner: ChildProcess;
  let control: ChildProcess;
  let seen = "";

  beforeAll(() => {
    // the pattern in a file: a scanner whose own arguments held the token would find itself
    writeFileSync(join(scratch, "pattern"), token);
    spawnSync("chmod", ["755", scratch]);
    spawnSync("chmod", ["644", join(scratch, "pattern")]);
    const loop = `while [ ! -e ${scratch}/stop ]; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -F -f ${scratch}/pattern; done; exit 0`;
    scanner = spawn("setpriv", [...asNobody, "sh", "-c", loop], { stdio: ["ignore", "pipe", "ignore"] });
    scanner.stdout!.on("data", (d: Buffer) => (seen += d.toString()));
    // proves the scanner sees what it looks for: a process whose arguments do hold the token
    control = spawn("sh", ["-c", "sleep 3", `control-${token}`], { stdio: "ignore" });
  });
  afterAll(async () => {
    writeFileSync(join(scratch, "stop"), "");
    scanner?.kill();
    control?.kill();
    await stack.dispose();
    rmSync(scratch, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("never shows up in any process's arguments during up, and stays encrypted in state", async () => {
    const r = await tracedUp(stack, trace);
    expect(r.ok, r.stderr).toBe(true);
    writeFileSync(join(scratch, "stop"), "");
    await new Promise((resolve) => scanner.once("exit", resolve));
    const execs = readFileSync(trace, "utf8");
    expect(execs).toMatch(/execve\("[^"]*\/(runc|crun)", \["[^"]*", "--root"/); // the trace saw the host commands
    expect(execs.includes(token)).toBe(false);
    const lines = seen.split("\n").filter(Boolean);
    expect(lines).toContain(`control-${token}`);
    expect(lines.filter((l) => l !== `control-${token}`)).toEqual([]);
    // the container got it
    const bundle = r.json!.outputs.bundle as string;
    expect(readFileSync(join(bundle, "config.json"), "utf8")).toContain(`TOKEN=${token}`);
    // state and config: encrypted (the backend dir is the test's own)
    const files = walk(stack.backend);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(f, "utf8").includes(token), f).toBe(false);
  });

  it("keeps the bundle (config.json, log, writable layer) from other host users", () => {
    const bundle = join("/var/lib", prefix, "containers", "app");
    const targets = ["config.json", "log", "start.sh", "kslice.json", "upper/root/data", "rootfs/root/data"].map((f) => join(bundle, f));
    for (const f of targets) {
      expect(statSync(f).isFile(), f).toBe(true); // root sees it: the paths are right
      const r = spawnSync("setpriv", [...asNobody, "cat", f], { encoding: "utf8" });
      expect(r.status, `${f} is readable by nobody`).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied/);
    }
    for (const d of [bundle, join(bundle, "rootfs"), join(bundle, "upper")]) {
      expect(spawnSync("setpriv", [...asNobody, "ls", d]).status, `${d} is listable by nobody`).not.toBe(0);
    }
  });
});
