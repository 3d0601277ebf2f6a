// kslice's stand-in language host (scripts/language-host.ts, beside the CLI) after a `kill -9` of
// the `pulumi` that started it: nothing in the engine ends it, so it must notice by itself.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive, sleep } from "../helpers/procs";
import { plainPulumiEnv, pulumiBin, repoRoot } from "../helpers/stack";

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

describe("the stand-in language host when its pulumi is killed", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-lh-"));
  const prefix = `${testPrefix}-lh`;
  const configFile = join(work, "Pulumi.test.yaml");
  const env = plainPulumiEnv(work, { PULUMI_BACKEND_URL: `file://${work}` });
  const dir = join(repoRoot, "examples", "quickstart");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("exits within a bounded time after kill -9 of pulumi preview in examples/quickstart", async () => {
    // the stand-in is what runs here (setup installs it unless a real one is there)
    expect(readFileSync(join(pulumiBin(), "pulumi-language-nodejs"), "utf8")).toContain("kslice stand-in");
    execFileSync("pulumi", ["stack", "init", "test", "--non-interactive"], { cwd: dir, env });
    for (const [k, v] of Object.entries({
      "kslice:prefix": prefix,
      "kslice:subnet": "10.247.62.0/24",
      "kslice:dynamicRange": "10.247.62.128/25",
      "kslice:webAddress": "10.247.62.10",
      "kslice:webPort": "18978",
    })) {
      execFileSync("pulumi", ["config", "set", k, v, "--stack", "test", "--config-file", configFile], { cwd: dir, env });
    }
    const cli = spawn("pulumi", ["preview", "--stack", "test", "--config-file", configFile, "--non-interactive"], { cwd: dir, env, stdio: "ignore" });
    const exited = new Promise<void>((r) => cli.once("exit", () => r()));
    // the engine starts a host more than once (plugins and `about`, then Run): take the one running
    // the program (the SDK's cmd/run as its child), which the engine was talking to when it died
    let host: { pid: number; args: string } | undefined;
    const running = () =>
      descendants(cli.pid!)
        .filter((p) => p.args.includes("pulumi-language-nodejs"))
        .find((p) => descendants(p.pid).some((c) => c.args.includes("cmd/run")));
    expect(await until(() => (host = running()) !== undefined, 120_000)).toBe(true);
    const before = descendants(host!.pid);
    process.kill(cli.pid!, "SIGKILL");
    await exited;
    // the bound: the host checks its engine every 2 s (and its parent); generous for a loaded machine
    expect(await until(() => !alive(host!.pid), 30_000), `language host ${host!.pid} still runs: ${host!.args}`).toBe(true);
    // and the program it was running, if any, went with it
    expect(await until(() => before.every((p) => !alive(p.pid)), 30_000), JSON.stringify(before)).toBe(true);
    expect(leaksOf(prefix)).toEqual([]);
  });
});
