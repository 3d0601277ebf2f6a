import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostLayout } from "../../../../provider/kernel/container/layout";
import { supervisorScript } from "../../../../provider/kernel/container/scripts";
import { localCgroupFile } from "../../../helpers/host";
import { leaksOf } from "../../../helpers/leaks";
import { testPrefix } from "../../../helpers/prefix";
import { alive, sleep, startIn } from "../../../helpers/procs";

// The supervisor's script against bundles and inits made by hand, with a runtime that only records
// its calls: what a tick asks of the runtime, which the lifecycle tests (real runtime) cannot see.
const prefix = `${testPrefix}-svf`;
const layout = hostLayout(prefix);
const calls = `${layout.runDir}/runtime-calls`;
const states = `${layout.runDir}/runtime-states`;
const fakeRuntime = `${layout.runDir}/fake-runtime`;
const inits: ChildProcess[] = [];
// a node of the prefix's pids hierarchy (on cgroup v1 the inits live in one hierarchy too)
const cgroupDir = (node: string) => dirname(localCgroupFile(prefix, node, "pids.max"));
let supervisor: ChildProcess | undefined;

function bundle(id: string, restart: string, cgroupPath: string): number {
  const b = layout.bundle(id);
  mkdirSync(b, { recursive: true });
  writeFileSync(`${b}/kslice.json`, "{}");
  writeFileSync(`${b}/restart`, restart);
  writeFileSync(`${b}/logmax`, "1048576");
  writeFileSync(`${b}/log`, "");
  writeFileSync(`${b}/start.sh`, `echo ${id} >> ${layout.runDir}/started\n`);
  mkdirSync(cgroupDir(cgroupPath), { recursive: true });
  const init = startIn([`${cgroupDir(cgroupPath)}/cgroup.procs`], "sleep 600");
  inits.push(init);
  writeFileSync(`${b}/init.pid`, String(init.pid)); // as runc and crun write it: no newline
  return init.pid!;
}

const listCalls = () =>
  existsSync(calls)
    ? readFileSync(calls, "utf8")
        .split("\n")
        .filter((l) => l.includes(" list"))
    : [];

describe("the supervisor's tick", () => {
  afterAll(async () => {
    supervisor?.kill("SIGKILL");
    for (const p of inits) p.kill("SIGKILL");
    await sleep(300);
    for (const node of ["budget/inner", "budget", "flat", "deep/payload", "deep", ""]) {
      try {
        execFileSync("rmdir", [cgroupDir(node)]);
      } catch {
        /* not made */
      }
    }
    rmSync(layout.stateDir, { recursive: true, force: true });
    rmSync(layout.runDir, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("asks the runtime nothing while every init lives in its own cgroup, and restarts one whose init died", async () => {
    mkdirSync(layout.ports, { recursive: true });
    mkdirSync(layout.runtimeRoot, { recursive: true });
    writeFileSync(states, "");
    writeFileSync(fakeRuntime, `#!/bin/sh\necho "$*" >> ${calls}\necho "ID PID STATUS"\ncat ${states}\n`, { mode: 0o755 });
    // one under a budget, one directly under the prefix, one whose init moved into a child of its cgroup
    const nested = bundle("inner", "always", "budget/inner");
    bundle("flat", "on-failure", "flat");
    bundle("deep", "always", "deep/payload");
    writeFileSync(`${layout.ports}/flat`, "8080\n");
    writeFileSync(`${layout.runDir}/script.sh`, supervisorScript(fakeRuntime, layout));
    supervisor = spawn("sh", [`${layout.runDir}/script.sh`], { stdio: "ignore" });
    await sleep(3500);
    expect(listCalls()).toEqual([]);
    expect(existsSync(`${layout.runDir}/started`)).toBe(false);

    // the init gone, its pid taken by a process elsewhere: the runtime is asked, and says stopped
    inits[0]!.kill("SIGKILL");
    await sleep(200);
    expect(alive(nested)).toBe(false);
    const stranger = spawn("sleep", ["60"], { stdio: "ignore" });
    inits.push(stranger);
    writeFileSync(`${layout.bundle("inner")}/init.pid`, String(stranger.pid));
    writeFileSync(states, `inner ${nested} stopped\nflat 1 running\n`);
    // the shell creates the file before echo writes to it: wait for the line, not the file
    const started = () => (existsSync(`${layout.runDir}/started`) ? readFileSync(`${layout.runDir}/started`, "utf8") : "");
    for (let i = 0; i < 30 && !started().endsWith("\n"); i++) await sleep(200);
    expect(started()).toBe("inner\n");
    expect(listCalls().length).toBeGreaterThan(0);
    expect(readFileSync(`${layout.bundle("inner")}/log`, "utf8")).toContain("kslice: restarting inner (policy always), restart 1");
  });
});
