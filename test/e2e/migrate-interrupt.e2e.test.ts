import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { KsliceEvent } from "../../cli/events";
import type { PrefixView } from "../../cli/model";
import { kslice } from "../helpers/cli";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive, sleep } from "../helpers/procs";
import { TestStack } from "../helpers/stack";

const prefixA = `${testPrefix}-mia`;
const prefixB = `${testPrefix}-mib`;
const bundle = (prefix: string) => `/var/lib/${prefix}/containers/box`;

/** Every process below `root`, with its command line. */
function descendants(root: number): { pid: number; args: string }[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [pid, ppid, ...args] = l.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), args: args.join(" ") };
    });
  const out: { pid: number; args: string }[] = [];
  const walk = (p: number) => rows.filter((r) => r.ppid === p).forEach((r) => (out.push(r), walk(r.pid)));
  walk(root);
  return out;
}

/** Polls `f` every 100 ms until it holds or `limitMs` passed; returns whether it held. */
async function until(f: () => boolean, limitMs: number): Promise<boolean> {
  for (const end = Date.now() + limitMs; Date.now() < end; await sleep(100)) if (f()) return true;
  return f();
}

/** Runs `argv` in the container box under `prefix` (runc exec) and returns its stdout. */
const inBox = (prefix: string, script: string) =>
  execFileSync("runc", ["--root", `/run/${prefix}/runtime`, "exec", "box", "sh", "-c", script], { encoding: "utf8" }).trim();

/** The init pid runc reports for box under `prefix`, or 0 when it does not run. */
function initPid(prefix: string): number {
  try {
    const st = JSON.parse(
      execFileSync("runc", ["--root", `/run/${prefix}/runtime`, "state", "box"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }),
    );
    return st.status === "running" ? Number(st.pid) : 0;
  } catch {
    return 0;
  }
}

// A migration between two prefixes of this machine with the CLI killed (kill -9) in the middle
// (issue 25): the engine's state still names the source and holds a pending update, while the
// provider went on until its watchdog ended it. After `cancel`, the next up must resume a move
// stopped at its copy, and take over as it is a move that had finished: no restart, no data lost,
// the migration's real record kept, nothing left on either prefix.
describe("a migration interrupted by a kill -9 of the CLI", () => {
  const pauseDir = mkdtempSync(join(tmpdir(), "kslice-pause-"));
  const pauseFile = join(pauseDir, "at");
  const env: Record<string, string> = {};
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/migrate/index.js",
    config: { "kslice:aPrefix": prefixA, "kslice:bPrefix": prefixB, "kslice:at": "a" },
    env,
  });
  afterAll(async () => {
    await stack.run("cancel");
    await stack.dispose();
    rmSync(pauseDir, { recursive: true, force: true });
    expect(leaksOf(prefixA)).toEqual([]);
    expect(leaksOf(prefixB)).toEqual([]);
  });

  /** Starts an up that pauses at `point`, kills the CLI with SIGKILL there, waits for its provider to go, and unlocks the stack. */
  async function killAt(point: string): Promise<void> {
    rmSync(pauseFile, { force: true });
    Object.assign(env, { KSLICE_TEST_PAUSE_AT: point, KSLICE_TEST_PAUSE_FILE: pauseFile });
    const runner = stack.start("up");
    const exited = new Promise<void>((r) => runner.once("exit", () => r()));
    expect(await until(() => existsSync(pauseFile) && readFileSync(pauseFile, "utf8") === point, 300_000)).toBe(true);
    const tree = descendants(runner.pid!);
    const cli = tree.find((p) => /\/pulumi up /.test(p.args));
    const provider = tree.find((p) => p.args.includes("dynamic-provider"));
    expect(cli, JSON.stringify(tree)).toBeDefined();
    expect(provider, JSON.stringify(tree)).toBeDefined();
    process.kill(cli!.pid, "SIGKILL");
    await exited;
    // the provider's watchdog ends it (two refused probes of the engine, 2 s apart)
    expect(await until(() => !alive(provider!.pid), 30_000)).toBe(true);
    delete env.KSLICE_TEST_PAUSE_AT;
    delete env.KSLICE_TEST_PAUSE_FILE;
    const cancel = await stack.run("cancel");
    expect(cancel.ok, cancel.stderr).toBe(true);
  }

  const box = () => stack.exportResources().find((r) => r.type.endsWith(":Container"))!;

  it("killed at its copy: the next up resumes it (the copy made again), keeps the data and reports the whole downtime", async () => {
    const first = await stack.run("up");
    expect(first.ok, first.stderr).toBe(true);
    inBox(prefixA, "echo precious > /data && dd if=/dev/urandom of=/blob bs=1M count=4 2>/dev/null");
    const sum = inBox(prefixA, "md5sum /blob");

    stack.config["kslice:at"] = "b";
    await killAt("copy");
    const killedAt = Date.now();
    // what makes this test: the state names the source, stopped there by the killed run; the
    // target holds an unstarted copy whose record says the copy never finished
    expect(box().outputs.bundlePath).toBe(bundle(prefixA));
    expect(initPid(prefixA)).toBe(0);
    expect(existsSync(`${bundle(prefixA)}/upper/blob`)).toBe(true);
    expect(JSON.parse(readFileSync(`${bundle(prefixB)}/migration.json`, "utf8"))).toMatchObject({ phase: "copying", wasRunning: true });
    await sleep(1000);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).toContain("resuming the migration");
    expect(up.stderr).not.toContain("deleted behind kslice's back");
    const last = up.json!.outputs.lastMigration as { bytes: number; precopyBytes: number; downtimeMs: number | null; mode: string };
    expect(last.mode).toBe("cold");
    expect(last.bytes).toBeGreaterThan(4 << 20);
    // resumed with the source stopped: one whole copy, nothing while it ran
    expect(last.precopyBytes).toBe(0);
    // from the stop made by the killed run, not from this run's start
    expect(last.downtimeMs).toBeGreaterThan(Date.now() - killedAt);
    expect(up.json!.outputs.bundlePath).toBe(bundle(prefixB));
    const pid = up.json!.outputs.pid as number;
    expect(initPid(prefixB)).toBe(pid);
    expect(inBox(prefixB, "cat /data")).toBe("precious");
    expect(inBox(prefixB, "md5sum /blob")).toBe(sum);
    expect(existsSync(bundle(prefixA))).toBe(false);
    expect(leaksOf(prefixA).filter((l) => /box/.test(l))).toEqual([]);

    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
    expect(again.stderr).not.toContain("pending operations");
    expect(initPid(prefixB)).toBe(pid);
  });

  it("killed during the pre-copy (the source still running): the next up migrates it from the start; the move after reports the pre-copy", async () => {
    const running = initPid(prefixB);
    expect(running).toBeGreaterThan(0);
    const sum = inBox(prefixB, "md5sum /blob");
    stack.config["kslice:at"] = "a";
    await killAt("precopy");
    // the source never stopped: same init; the target holds an unstarted copy and no record of a move
    expect(box().outputs.bundlePath).toBe(bundle(prefixB));
    expect(initPid(prefixB)).toBe(running);
    expect(initPid(prefixA)).toBe(0);
    expect(existsSync(`${bundle(prefixA)}/upper/blob`)).toBe(true);
    expect(existsSync(`${bundle(prefixA)}/migration.json`)).toBe(false);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).not.toContain("resuming");
    const last = up.json!.outputs.lastMigration as { bytes: number; precopyBytes: number; downtimeMs: number };
    expect(last.precopyBytes).toBeGreaterThan(4 << 20);
    expect(last.bytes - last.precopyBytes).toBeLessThan(1 << 20);
    expect(up.stderr).toMatch(/pre-copied \d+\.\d MiB to .* while it ran/);
    expect(initPid(prefixA)).toBe(up.json!.outputs.pid);
    expect(inBox(prefixA, "md5sum /blob")).toBe(sum);
    expect(existsSync(bundle(prefixB))).toBe(false);

    // back to B for the next test, in one clean move
    stack.config["kslice:at"] = "b";
    const back = await stack.run("up");
    expect(back.ok, back.stderr).toBe(true);
    console.log(`between two prefixes of this machine: ${/migrated from .*$/m.exec(back.stderr)?.[0] ?? ""}`);
    // the record the move left on the target is what kslice events and ps --json tell
    const record = back.json!.outputs.lastMigration as { from: string; at: string };
    const events = (await kslice(["--prefix", prefixB, "events", "--json"])).stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as KsliceEvent);
    expect(events.filter((e) => e.kind === "migrated")).toEqual([
      expect.objectContaining({ name: "box", detail: expect.stringContaining(`migrated here from ${record.from} at ${record.at} (cold), downtime `) }),
    ]);
    const ps = JSON.parse((await kslice(["--prefix", prefixB, "ps", "--json", "--interval", "0"])).stdout) as PrefixView;
    expect(ps.containers.find((c) => c.name === "box")!.lastMigration).toEqual(record);
    expect(inBox(prefixB, "md5sum /blob")).toBe(sum);
    expect(leaksOf(prefixA).filter((l) => /box/.test(l))).toEqual([]);
  });

  it("killed after the move finished: the next up takes it over on the target without a restart and keeps its record", async () => {
    const pid = initPid(prefixB);
    expect(pid).toBeGreaterThan(0);
    stack.config["kslice:at"] = "a";
    await killAt("migrated");
    // the provider moved it (the source is gone), but the state never heard of it
    expect(box().outputs.bundlePath).toBe(bundle(prefixB));
    expect(existsSync(bundle(prefixB))).toBe(false);
    const moved = initPid(prefixA);
    expect(moved).toBeGreaterThan(0);
    const recorded = JSON.parse(readFileSync(`${bundle(prefixA)}/migration.json`, "utf8"));
    expect(recorded).toMatchObject({ phase: "started", result: { bytes: expect.any(Number), downtimeMs: expect.any(Number) } });
    expect(recorded.result.bytes).toBeGreaterThan(4 << 20);
    // it ran: the 4 MiB went while it ran, and only what changed since (next to nothing) while stopped
    expect(recorded.result.precopyBytes).toBeGreaterThan(4 << 20);
    expect(recorded.result.bytes - recorded.result.precopyBytes).toBeLessThan(1 << 20);

    const preview = await stack.run("preview");
    expect(preview.ok, preview.stderr).toBe(true);
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).toContain("was interrupted after its data moved");
    expect(up.stderr).not.toContain("deleted behind kslice's back");
    // the same init: adopted, not restarted
    expect(up.json!.outputs.pid).toBe(moved);
    expect(initPid(prefixA)).toBe(moved);
    expect(up.json!.outputs.lastMigration).toEqual(recorded.result);
    expect(inBox(prefixA, "cat /data")).toBe("precious");

    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
    // the up cleared the engine's pending update
    expect(again.stderr).not.toContain("pending operations");
    expect(leaksOf(prefixB).filter((l) => /box/.test(l))).toEqual([]);
  });

  it("killed after the move finished, then refreshed (as Pulumi's warning suggests): the next up takes it over all the same", async () => {
    stack.config["kslice:at"] = "b";
    await killAt("migrated");
    const moved = initPid(prefixB);
    expect(moved).toBeGreaterThan(0);
    const recorded = JSON.parse(readFileSync(`${bundle(prefixB)}/migration.json`, "utf8"));
    // refresh reads the source, where the container is gone: the state drops it
    const refresh = await stack.run("refresh");
    expect(refresh.ok, refresh.stderr).toBe(true);
    expect(stack.exportResources().filter((r) => r.type.endsWith(":Container"))).toEqual([]);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.json!.outputs.pid).toBe(moved);
    expect(initPid(prefixB)).toBe(moved);
    expect(up.json!.outputs.lastMigration).toEqual(recorded.result);
    expect(inBox(prefixB, "cat /data")).toBe("precious");
    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
    expect(again.stderr).not.toContain("pending operations");
    expect(leaksOf(prefixA).filter((l) => /box/.test(l))).toEqual([]);
  });
});
