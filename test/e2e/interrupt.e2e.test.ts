import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive, sleep } from "../helpers/procs";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2i`;
const containers = `/var/lib/${prefix}/containers`;

/** Every process below `root`, with its command line. */
function descendants(root: number): { pid: number; args: string }[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" }).split("\n").filter(Boolean).map((l) => {
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
