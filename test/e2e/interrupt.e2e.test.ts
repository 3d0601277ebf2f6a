import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive, sleep } from "../helpers/procs";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2i`;
const containers = `/var/lib/${prefix}/containers`;

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

describe("the pulumi CLI killed during an up", () => {
  const stack = new TestStack("test/fixtures/programs", { program: "dist/test/fixtures/programs/interrupt/index.js", config: { "kslice:prefix": prefix } });
  afterAll(async () => {
    await stack.run("cancel");
    await stack.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("the orphaned provider exits, cancel and refresh --clear-pending-creates clear the stack, and the next up converges", async () => {
    const runner = stack.start("up", "--parallel", "1");
    const exited = new Promise<void>((r) => runner.once("exit", () => r()));
    // between creates: the first container is on the host, the others are not yet
    const started = await until(() => existsSync(containers) && readdirSync(containers).some((c) => existsSync(`${containers}/${c}/kslice.json`)), 300_000);
    expect(started).toBe(true);
    const tree = descendants(runner.pid!);
    const cli = tree.find((p) => /\/pulumi up /.test(p.args));
    const provider = tree.find((p) => p.args.includes("dynamic-provider"));
    expect(cli, JSON.stringify(tree)).toBeDefined();
    expect(provider, JSON.stringify(tree)).toBeDefined();
    process.kill(cli!.pid, "SIGKILL");
    await exited;
    // the bound: the watchdog probes the engine every 2 s and exits after two refusals
    expect(await until(() => !alive(provider!.pid), 30_000)).toBe(true);

    const locked = await stack.run("up");
    expect(locked.ok).toBe(false);
    expect(locked.stderr).toContain("pulumi cancel");
    const cancel = await stack.run("cancel");
    expect(cancel.ok, cancel.stderr).toBe(true);
    const refresh = await stack.run("refresh", "--clear-pending-creates");
    expect(refresh.ok, refresh.stderr).toBe(true);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).not.toContain("pending operations");
    const pids = up.json!.outputs.pids as number[];
    expect(pids).toHaveLength(4);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
  });
});

const prefixK = `${testPrefix}-e2k`;
const containersK = `/var/lib/${prefixK}/containers`;

/** Init pids of the containers on the host whose init is alive, by name. */
function livePids(): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(containersK)) return out;
  for (const c of readdirSync(containersK)) {
    const f = `${containersK}/${c}/init.pid`;
    const pid = existsSync(f) ? Number(readFileSync(f, "utf8").trim()) : 0;
    if (pid > 0 && alive(pid)) out.set(c, pid);
  }
  return out;
}

// The file backend rewrites the whole state after every step (README: Performance); Pulumi's
// PULUMI_SKIP_CHECKPOINTS writes it once at the end. An up killed midway then leaves a state that
// knows nothing of what it made: kslice's next up must take it back (Ownership), not fail or restart.
describe("an up and a destroy that skip the engine's checkpoints, killed midway (a budget, a Network, containers on it)", () => {
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/interrupt/index.js",
    config: { "kslice:prefix": prefixK, "kslice:subnet": "10.247.86.0/24" },
    env: { PULUMI_EXPERIMENTAL: "true", PULUMI_SKIP_CHECKPOINTS: "true" },
  });
  afterAll(async () => {
    await stack.run("cancel");
    await stack.dispose();
    expect(leaksOf(prefixK)).toEqual([]);
  });

  /** Starts `op`, kills the CLI with SIGKILL once `ready` holds, waits until its provider is gone, and unlocks the stack. */
  async function killDuring(op: string, ready: () => boolean): Promise<void> {
    const runner = stack.start(op, "--parallel", "1");
    const exited = new Promise<void>((r) => runner.once("exit", () => r()));
    expect(await until(ready, 300_000)).toBe(true);
    const tree = descendants(runner.pid!);
    const cli = tree.find((p) => new RegExp(`/pulumi ${op} `).test(p.args));
    const provider = tree.find((p) => p.args.includes("dynamic-provider"));
    expect(cli, JSON.stringify(tree)).toBeDefined();
    process.kill(cli!.pid, "SIGKILL");
    await exited;
    if (provider) expect(await until(() => !alive(provider.pid), 30_000)).toBe(true);
    const cancel = await stack.run("cancel");
    expect(cancel.ok, cancel.stderr).toBe(true);
  }

  it("the next up takes back what the killed up made without restarting it, and the next destroy finishes the killed one's work", async () => {
    await killDuring("up", () => livePids().size >= 2);
    const made = livePids();
    expect(made.size).toBeGreaterThanOrEqual(2);
    // what makes this test: the state holds none of the containers that run on the host
    expect(stack.exportResources().filter((r) => r.type.endsWith(":Container"))).toEqual([]);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    const pids = up.json!.outputs.pids as number[];
    expect(pids).toHaveLength(4);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    // taken over as they were: the same inits, and every container on the network with an address of its own
    const after = livePids();
    for (const [name, pid] of made) expect(after.get(name), name).toBe(pid);
    const addresses = up.json!.outputs.addresses as string[];
    expect(new Set(addresses).size).toBe(4);
    for (const a of addresses) expect(a).toMatch(/^10\.247\.86\.\d+$/);
    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);

    // a destroy killed after its first delete: the state still lists every container
    await killDuring("destroy", () => livePids().size <= 3);
    expect(stack.exportResources().filter((r) => r.type.endsWith(":Container"))).toHaveLength(4);
    const destroy = await stack.run("destroy");
    expect(destroy.ok, destroy.stderr).toBe(true);
    expect(leaksOf(prefixK)).toEqual([]);
  });
});
