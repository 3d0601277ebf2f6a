import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { alive, sleep } from "../../helpers/procs";

const prefix = `${testPrefix}-ctr`;
const cs = new Containers(prefix);
const runc = (...args: string[]) => execFileSync("runc", ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8" });
const pidsMax = (name: string) => `/sys/fs/cgroup/pids/${prefix}/${name}/pids.max`;

describe("Container lifecycle against runc and the kernel", () => {
  afterAll(async () => {
    await cs.cleanup();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("creates a running container with its limits, log and usage", async () => {
    const { outs } = await cs.create("web", { command: ["sh", "-c", "echo started; exec sleep 600"], limits: { pids: { max: 32 }, memory: { max: "64Mi" } }, stopGraceSeconds: 1, reportUsage: true });
    expect(outs).toMatchObject({ status: "running", runtime: "runc", cgroupPath: "web" });
    expect(alive(outs.pid as number)).toBe(true);
    expect(readFileSync(pidsMax("web"), "utf8").trim()).toBe("32");
    await sleep(200);
    expect(readFileSync(outs.logPath as string, "utf8")).toContain("started");
    expect((outs.usage as { pidsCurrent: number }).pidsCurrent).toBe(1);
  });

  it("finds drift (limit changed, container stopped, init replaced) and update repairs it live", async () => {
    const c = (await L.check({}, { host: cs.host, name: "web", command: ["sh", "-c", "echo started; exec sleep 600"], limits: { pids: { max: 32 }, memory: { max: "64Mi" } }, stopGraceSeconds: 1 })).inputs!;
    let outs = (await L.read("", { ...c, pid: 0 })).props!;
    expect(await L.diff("", outs, c)).toEqual({ changes: false });

    // a limit changed by hand: repaired without a restart
    const pid = outs.pid;
    writeFileSync(pidsMax("web"), "999");
    forgetReads();
    expect(await L.diff("", outs, c)).toEqual({ changes: true });
    expect((await L.read("", outs)).props!.limits).toEqual({ pids: { max: 999 }, memory: { max: "64Mi" } });
    outs = (await L.update("", outs, c)).outs!;
    expect(readFileSync(pidsMax("web"), "utf8").trim()).toBe("32");
    expect(outs.pid).toBe(pid);

    // killed behind kslice's back: read shows it stopped, update starts it again
    runc("kill", "web", "KILL");
    await sleep(300);
    forgetReads();
    expect(await L.diff("", outs, c)).toEqual({ changes: true });
    expect((await L.read("", outs)).props!.state).toBe("stopped");
    outs = (await L.update("", outs, c)).outs!;
    expect(outs.status).toBe("running");
    expect(outs.pid).not.toBe(pid);
    expect(readFileSync(pidsMax("web"), "utf8").trim()).toBe("32");
    expect(await L.diff("", outs, c)).toEqual({ changes: false });

    // the init replaced by another command under the same id: update brings back the declared one
    const bundle = `/var/lib/${prefix}/containers/web`;
    runc("kill", "web", "KILL");
    await sleep(300);
    runc("delete", "web");
    const cfg = JSON.parse(readFileSync(`${bundle}/config.json`, "utf8"));
    cfg.process.args = ["sleep", "999"];
    writeFileSync(`${bundle}/config.json`, JSON.stringify(cfg));
    execFileSync("sh", ["-c", `runc --root /run/${prefix}/runtime run -d --bundle ${bundle} web </dev/null >/dev/null 2>&1`]);
    forgetReads();
    expect(await L.diff("", outs, c)).toEqual({ changes: true });
    outs = (await L.update("", outs, c)).outs!;
    expect(readFileSync(`/proc/${outs.pid}/cmdline`, "utf8")).not.toContain("999");
    expect(JSON.parse(readFileSync(`${bundle}/config.json`, "utf8")).process.args[0]).toBe("sh");
    expect(await L.diff("", outs, c)).toEqual({ changes: false });
  });

  it("stops and starts live when state changes, keeping the bundle", async () => {
    const c = (await L.check({}, { host: cs.host, name: "web", command: ["sh", "-c", "echo started; exec sleep 600"], limits: { pids: { max: 32 }, memory: { max: "64Mi" } }, stopGraceSeconds: 1 })).inputs!;
    const outs = (await L.read("", { ...c })).props!;
    const stopped = (await L.update("", outs, { ...c, state: "stopped" })).outs!;
    expect(stopped).toMatchObject({ status: "stopped", pid: 0 });
    expect(alive(outs.pid as number)).toBe(false);
    expect(existsSync(`/var/lib/${prefix}/containers/web/config.json`)).toBe(true);
    expect(await L.diff("", stopped, { ...c, state: "stopped" })).toEqual({ changes: false });
    const again = (await L.update("", stopped, c)).outs!;
    expect(again.status).toBe("running");
  });

  it("classifies changes: limits and state are live, command and rootfs replace", async () => {
    const base = { host: cs.host, name: "web", command: ["sleep", "1"], limits: {} };
    const o = (await L.check({}, base)).inputs!;
    expect(await L.diff("", o, { ...o, command: ["sleep", "2"] })).toEqual({ changes: true, replaces: ["command"], deleteBeforeReplace: true });
    expect(await L.diff("", o, { ...o, rootfs: { path: "/tmp" } })).toMatchObject({ replaces: ["rootfs"] });
    expect(await L.diff("", o, { ...o, limits: { pids: { max: 5 } } })).toEqual({ changes: true });
    expect(await L.diff("", o, { ...o, state: "stopped" })).toEqual({ changes: true });
  });

  it("a failed create leaves no bundle, cgroup, mount, runtime state or process", async () => {
    const before = leaksOf(prefix);
    const err = (await cs.create("broken", { command: ["/no/such/binary"], limits: { pids: { max: 8 } } }).catch((e) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain("container broken");
    expect(err.message).toMatch(/no such file|not found|executable file/i);
    expect(existsSync(`/var/lib/${prefix}/containers/broken`)).toBe(false);
    expect(existsSync(`/sys/fs/cgroup/pids/${prefix}/broken`)).toBe(false);
    expect(runc("list", "-q")).not.toContain("broken");
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(`${prefix}/containers/broken`);
    expect(leaksOf(prefix)).toEqual(before);
  });

  it("rejects a rootfs path that does not exist at check, naming the input", async () => {
    const r = await L.check({}, { host: cs.host, name: "x", command: ["true"], rootfs: { path: "/nonexistent/rootfs" } });
    expect(r.failures).toEqual([{ property: "rootfs.path", reason: expect.stringContaining('got "/nonexistent/rootfs"; no such path') }]);
  });

  it("adopts its own container after lost state without restarting it, and delete is idempotent", async () => {
    const { id, outs, inputs } = await cs.create("kept", { command: ["sleep", "600"] });
    const again = await L.create(inputs);
    expect(again.outs!.pid).toBe(outs.pid);
    const other = await L.create({ ...inputs, command: ["sleep", "601"] }).catch((e) => e as Error);
    expect(String(other)).toContain("already exists");
    await L.delete(id, outs);
    await L.delete(id, outs);
    expect(alive(outs.pid as number)).toBe(false);
    expect(existsSync(`/var/lib/${prefix}/containers/kept`)).toBe(false);
  });
});
