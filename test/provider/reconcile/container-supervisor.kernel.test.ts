import { execFileSync, spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { Containers } from "../../helpers/containers";
import { localCgroupFile, localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { alive, sleep } from "../../helpers/procs";

const prefix = `${testPrefix}-sup`;
const cs = new Containers(prefix);
const runc = (...args: string[]) => execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8" });
// mid-restart a container briefly does not exist
const stateOf = (id: string): { status: string; pid: number } => {
  try {
    return JSON.parse(runc("state", id));
  } catch {
    return { status: "missing", pid: 0 };
  }
};
const supervisors = () => {
  try {
    return execFileSync("pgrep", ["-f", `/var/lib/${prefix}/supervisor.sh`], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
};

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (what()) return true;
  return what();
}

describe("the host supervisor: restart policies and log caps without kslice running", () => {
  afterAll(async () => {
    await cs.cleanup();
    expect(await until(() => supervisors().length === 0, 5000)).toBe(true);
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("restarts a crashed init under policy always, with its limits, and leaves a policy-no container stopped", async () => {
    const always = await cs.create("phoenix", { command: ["sleep", "600"], restartPolicy: "always", limits: { pids: { max: 12 } }, stopGraceSeconds: 1 });
    const never = await cs.create("mortal", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    // a second start may run for an instant before it finds the lock taken
    expect(await until(() => supervisors().length === 1, 3000)).toBe(true);
    // the pid the restart must change (a create that reported no pid would make the wait below vacuous)
    expect(always.outs.pid).toBeGreaterThan(0);
    expect(stateOf("phoenix")).toMatchObject({ status: "running", pid: always.outs.pid });
    runc("kill", "phoenix", "KILL");
    runc("kill", "mortal", "KILL");
    expect(await until(() => stateOf("phoenix").status === "running" && stateOf("phoenix").pid !== always.outs.pid, 8000)).toBe(true);
    expect(readFileSync(localCgroupFile(prefix, "phoenix", "pids.max"), "utf8").trim()).toBe("12");
    expect(readFileSync(always.outs.logPath as string, "utf8")).toContain("restarting phoenix (policy always)");
    await sleep(1500);
    expect(stateOf("mortal").status).toBe("stopped");
    expect(alive(never.outs.pid as number)).toBe(false);
  });

  it("restarts a dead init whose pid file names a live process that is not the container's", async () => {
    const c = await cs.create("reborn", { command: ["sleep", "600"], restartPolicy: "always", stopGraceSeconds: 1 });
    const pidFile = `/var/lib/${prefix}/containers/reborn/init.pid`;
    // the supervisor reads init.pid, not the runtime, to see a live init: a pid taken over by a
    // process outside the container (a wrap, a reboot) must not pass for it
    expect(readFileSync(pidFile, "utf8")).toBe(String(c.outs.pid)); // as the runtime writes it: no newline
    const stranger = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      writeFileSync(pidFile, String(stranger.pid));
      runc("kill", "reborn", "KILL");
      expect(await until(() => stateOf("reborn").status === "running" && stateOf("reborn").pid !== c.outs.pid, 8000)).toBe(true);
      expect(readFileSync(pidFile, "utf8")).toBe(String(stateOf("reborn").pid));
    } finally {
      stranger.kill();
    }
  });

  it("restarts on-failure after an exit kslice did not ask for, but not after a stop kslice made", async () => {
    const c = await cs.create("flaky", { command: ["sh", "-c", "sleep 1; exit 3"], restartPolicy: "on-failure", stopGraceSeconds: 1 });
    expect(await until(() => stateOf("flaky").status === "running" && stateOf("flaky").pid !== c.outs.pid, 8000)).toBe(true);
    const now = (await L.read("", c.outs)).props!;
    await L.update("", now, { ...c.inputs, state: "stopped" });
    await sleep(2500);
    expect(runc("list", "-q")).not.toContain("flaky");
  });

  it("keeps a chatty container's log under its cap", async () => {
    // about 40 KiB/s: trimmed once a second, the cap holds to within one second of output
    const line = "0123456789abcdef".repeat(4);
    const c = await cs.create("chatty", {
      command: ["sh", "-c", `while :; do i=0; while [ $i -lt 64 ]; do echo ${line}; i=$((i+1)); done; sleep 0.1; done`],
      logMaxSize: "64Ki",
      stopGraceSeconds: 1,
    });
    let largest = 0;
    for (let i = 0; i < 25; i++, await sleep(200)) largest = Math.max(largest, statSync(c.outs.logPath as string).size);
    expect(largest).toBeGreaterThan(32 * 1024); // it did write
    expect(largest).toBeLessThan(64 * 1024 + 80 * 1024);
  });

  it("runs each container's log writer in <prefix>-logs and the supervisor in <prefix>-supervisor, in every hierarchy", async () => {
    const c = await cs.create("scribe", { command: ["sh", "-c", "echo hello; sleep 600"], stopGraceSeconds: 1 });
    expect(await until(() => supervisors().length === 1, 3000)).toBe(true);
    const writer = Number(readFileSync(`${c.outs.logPath as string}.pid`, "utf8").trim());
    expect(readFileSync(`/proc/${writer}/comm`, "utf8").trim()).toBe("tee");
    // "<id>:<controllers>:<path>", one line per hierarchy: the writer must be in its cgroup in all of them
    const paths = (pid: number | string) =>
      readFileSync(`/proc/${pid}/cgroup`, "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(":").slice(2).join(":"));
    const hierarchies = paths("self").length;
    expect(paths(writer)).toEqual(Array(hierarchies).fill(`/${prefix}-logs`));
    expect(paths(supervisors()[0]!)).toEqual(Array(hierarchies).fill(`/${prefix}-supervisor`));
    expect(await until(() => readFileSync(c.outs.logPath as string, "utf8").includes("hello"), 3000)).toBe(true);
  });
});
