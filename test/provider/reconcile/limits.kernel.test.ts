import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { weightToShares } from "../../../provider/kernel/cgroup/convert";
import { hostLifecycle } from "../../../provider/reconcile/host";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { alive, sleep, startIn } from "../../helpers/procs";

// This machine runs cgroup v1 in hybrid mode: the files below are v1's.
const prefix = `${testPrefix}-lim`;
const host = { connection: { type: "local" }, prefix };
const mem = (path: string, file: string) => `/sys/fs/cgroup/memory/${prefix}/${path}/${file}`;
const read = (f: string) => readFileSync(f, "utf8").trim();
const procsFiles = (path: string) => ["memory", "pids", "cpu"].map((c) => `/sys/fs/cgroup/${c}/${prefix}/${path}/cgroup.procs`);

async function make(name: string, limits: object, extra: object = {}) {
  const c = await limitsLifecycle.check({}, { host, name, limits, ...extra });
  expect(c.failures).toBeUndefined();
  const r = await limitsLifecycle.create(c.inputs!);
  return { inputs: c.inputs!, outs: r.outs! };
}

describe("ResourceLimits on cgroup v1 (local)", () => {
  afterAll(async () => {
    for (const p of ["tenant/child", "tenant", "live", "busy"]) {
      await limitsLifecycle.delete("", { host, name: p.split("/").pop(), parent: p.includes("/") ? "tenant" : undefined, onDeleteWithProcesses: "kill" }).catch(() => undefined);
    }
    await hostLifecycle.delete("", { ...host, runtime: "auto" });
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("creates the node and writes every limit in v1's files", async () => {
    await make("tenant", { memory: { max: "64Mi", low: "16Mi", swapMax: "32Mi" }, cpu: { weight: 200, max: 0.5 }, pids: { max: 50 } });
    expect(read(mem("tenant", "memory.limit_in_bytes"))).toBe(String(64 * 2 ** 20));
    expect(read(mem("tenant", "memory.soft_limit_in_bytes"))).toBe(String(16 * 2 ** 20));
    expect(read(mem("tenant", "memory.memsw.limit_in_bytes"))).toBe(String(96 * 2 ** 20));
    expect(read(`/sys/fs/cgroup/cpu/${prefix}/tenant/cpu.shares`)).toBe(String(weightToShares(200)));
    expect(read(`/sys/fs/cgroup/cpu/${prefix}/tenant/cpu.cfs_quota_us`)).toBe("50000");
    expect(read(`/sys/fs/cgroup/pids/${prefix}/tenant/pids.max`)).toBe("50");
  });

  it("finds a limit changed by hand, shows the kernel's value, and repairs it", async () => {
    const inputs = { host, name: "tenant", limits: { memory: { max: "64Mi", low: "16Mi", swapMax: "32Mi" }, cpu: { weight: 200, max: 0.5 }, pids: { max: 50 } } };
    const c = (await limitsLifecycle.check({}, inputs)).inputs!;
    expect(await limitsLifecycle.diff("", { ...c, path: "tenant" }, c)).toEqual({ changes: false });
    writeFileSync(`/sys/fs/cgroup/pids/${prefix}/tenant/pids.max`, "77");
    forgetReads(); // a new engine run would read the kernel afresh
    expect(await limitsLifecycle.diff("", { ...c, path: "tenant" }, c)).toEqual({ changes: true });
    const r = await limitsLifecycle.read("", { ...c, path: "tenant" });
    expect(r.props!.limits).toEqual({ ...inputs.limits, pids: { max: 77 } });
    await limitsLifecycle.update("", { ...c, path: "tenant" }, c);
    expect(read(`/sys/fs/cgroup/pids/${prefix}/tenant/pids.max`)).toBe("50");
    expect(await limitsLifecycle.diff("", { ...c, path: "tenant" }, c)).toEqual({ changes: false });
    // the user's notation survives a read of an unchanged node: no perpetual diff
    expect((await limitsLifecycle.read("", { ...c, path: "tenant" })).props!.limits).toEqual(inputs.limits);
  });

  it("updates live: a process inside keeps its pid; a removed field returns to the default", async () => {
    const { inputs } = await make("live", { memory: { max: "128Mi" }, pids: { max: 100 } });
    const p = startIn(procsFiles("live"), "sleep 600");
    await sleep(200);
    const pid = p.pid!;
    expect(read(mem("live", "cgroup.procs"))).toBe(String(pid));
    const next = (await limitsLifecycle.check({}, { ...inputs, limits: { memory: { max: "256Mi" } } })).inputs!;
    expect(await limitsLifecycle.diff("", { ...inputs, path: "live" }, next)).toEqual({ changes: true });
    await limitsLifecycle.update("", { ...inputs, path: "live" }, next);
    expect(read(mem("live", "memory.limit_in_bytes"))).toBe(String(256 * 2 ** 20));
    expect(read(`/sys/fs/cgroup/pids/${prefix}/live/pids.max`)).toBe("max");
    expect(alive(pid)).toBe(true);
    expect(read(mem("live", "cgroup.procs"))).toBe(String(pid));
    // delete with a process inside: a clear error by default, then kill on request
    await expect(limitsLifecycle.delete("", next)).rejects.toThrow(/still has 1 process\(es\) \(pids \d+\).*onDeleteWithProcesses/);
    await limitsLifecycle.delete("", { ...next, onDeleteWithProcesses: "kill" });
    await sleep(100);
    expect(alive(pid)).toBe(false);
  });

  it("enforces a nested budget: a hog in a child is OOM-killed at the parent's memory.max", async () => {
    const { inputs } = await make("child", {}, { parent: "tenant" });
    expect(inputs.parent).toBe("tenant");
    const oomKills = () =>
      ["tenant", "tenant/child"].reduce((n, p) => n + Number(/oom_kill (\d+)/.exec(readFileSync(mem(p, "memory.oom_control"), "utf8"))![1]), 0);
    const before = oomKills();
    const failcnt = Number(read(mem("tenant", "memory.failcnt")));
    const hog = startIn(procsFiles("tenant/child"), "dd if=/dev/zero of=/dev/null bs=200M count=1");
    const code = await new Promise<number | null>((r) => hog.on("exit", (c, sig) => r(c ?? (sig === "SIGKILL" ? 137 : -1))));
    expect(code).toBe(137);
    // v1 counts the kill in the victim's memcg; the limit that was hit is the parent's
    expect(oomKills()).toBe(before + 1);
    expect(Number(read(mem("tenant", "memory.failcnt")))).toBeGreaterThan(failcnt);
  });

  it("rejects at check a child limit above its parent's, naming the input", async () => {
    const r = await limitsLifecycle.check({}, { host, name: "big", parent: "tenant", limits: { memory: { max: "1Gi" }, pids: { max: 500 } } });
    expect(r.failures).toEqual([
      { property: "limits.memory.max", reason: expect.stringContaining("got 1Gi, above the parent tenant's 64Mi") },
      { property: "limits.pids.max", reason: expect.stringContaining("got 500, above the parent tenant's 50") },
    ]);
  });

  it("refuses to create over an existing cgroup unless adopt, and adopting keeps its processes", async () => {
    const { inputs } = await make("busy", {});
    const p = startIn(procsFiles("busy"), "sleep 600");
    await sleep(200);
    await expect(limitsLifecycle.create(inputs)).rejects.toThrow(/already exists.*adopt: true/);
    const adopted = await limitsLifecycle.create({ ...inputs, adopt: true, limits: { pids: { max: 10 } } });
    expect(adopted.outs!.path).toBe("busy");
    expect(alive(p.pid!)).toBe(true);
    expect(read(`/sys/fs/cgroup/pids/${prefix}/busy/pids.max`)).toBe("10");
  });
});
