import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { weightToShares } from "../../../provider/kernel/cgroup/convert";
import { hostLifecycle } from "../../../provider/reconcile/host";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import type { HostUnderTest } from "../../helpers/host";
import { sleep } from "../../helpers/procs";

/**
 * The ResourceLimits suite, run against any host: this machine (limits.kernel.test.ts) and a
 * cgroup v2 lab VM over SSH (test/lab/suites-v2.lab.test.ts). Expected files and values follow
 * the host's cgroup mode.
 */
export function limitsSuite(connect: () => Promise<HostUnderTest>, prefix: string): void {
  let h: HostUnderTest;
  const host = () => ({ connection: h.connection, prefix });
  const file = (node: string, v2File: string) => h.cgroupFile(prefix, node, v2File);
  const read = (node: string, v2File: string) => h.read(file(node, v2File));
  const procs = (node: string) => h.read(h.procsFiles(prefix, node)[0]!);
  // swapMax needs swap accounting (v1 memsw files, v2 memory.swap.max)
  const swap = () => h.facts.features.includes(h.v2 ? "v2-swap" : "v1-memsw");
  const tenantLimits = () => ({
    memory: { max: "64Mi", low: "16Mi", ...(swap() ? { swapMax: "32Mi" } : {}) },
    cpu: { weight: 200, max: 0.5 },
    pids: { max: 50 },
  });

  async function make(name: string, limits: object, extra: object = {}) {
    const c = await limitsLifecycle.check({}, { host: host(), name, limits, ...extra });
    expect(c.failures).toBeUndefined();
    const r = await limitsLifecycle.create(c.inputs!);
    return { inputs: c.inputs!, outs: r.outs! };
  }

  describe("ResourceLimits", () => {
    beforeAll(async () => {
      h = await connect();
      console.log(`[limits] host ${h.name}: cgroup ${h.facts.cgroupMode}, runtime ${h.runtime}`);
      if (!swap()) console.log(`[limits] skipped: limits.memory.swapMax (host ${h.name} has no swap accounting)`);
    });

    afterAll(async () => {
      if (!h) return;
      for (const p of ["tenant/child", "tenant", "live", "busy"]) {
        await limitsLifecycle
          .delete("", { host: host(), name: p.split("/").pop(), parent: p.includes("/") ? "tenant" : undefined, onDeleteWithProcesses: "kill" })
          .catch(() => undefined);
      }
      await hostLifecycle.delete("", { ...host(), runtime: "auto" });
      expect(await h.leaks(prefix)).toEqual([]);
    });

    it("creates the node and writes every limit in the host's cgroup files", async () => {
      await make("tenant", tenantLimits());
      expect(await read("tenant", "memory.max")).toBe(String(64 * 2 ** 20));
      expect(await read("tenant", "memory.low")).toBe(String(16 * 2 ** 20));
      expect(await read("tenant", "pids.max")).toBe("50");
      if (h.v2) {
        if (swap()) expect(await read("tenant", "memory.swap.max")).toBe(String(32 * 2 ** 20));
        expect(await read("tenant", "cpu.weight")).toBe("200");
        expect(await read("tenant", "cpu.max")).toBe("50000 100000");
      } else {
        // v1 keeps memory + swap in one limit
        if (swap()) expect(await read("tenant", "memory.swap.max")).toBe(String(96 * 2 ** 20));
        expect(await read("tenant", "cpu.weight")).toBe(String(weightToShares(200)));
        expect(await read("tenant", "cpu.max")).toBe("50000");
      }
    });

    it("finds a limit changed by hand, shows the kernel's value, and repairs it", async () => {
      const inputs = { host: host(), name: "tenant", limits: tenantLimits() };
      const c = (await limitsLifecycle.check({}, inputs)).inputs!;
      expect(await limitsLifecycle.diff("", { ...c, path: "tenant" }, c)).toEqual({ changes: false });
      await h.write(file("tenant", "pids.max"), "77");
      forgetReads(); // a new engine run would read the kernel afresh
      expect(await limitsLifecycle.diff("", { ...c, path: "tenant" }, c)).toEqual({ changes: true });
      const r = await limitsLifecycle.read("", { ...c, path: "tenant" });
      expect(r.props!.limits).toEqual({ ...inputs.limits, pids: { max: 77 } });
      await limitsLifecycle.update("", { ...c, path: "tenant" }, c);
      expect(await read("tenant", "pids.max")).toBe("50");
      expect(await limitsLifecycle.diff("", { ...c, path: "tenant" }, c)).toEqual({ changes: false });
      // the user's notation survives a read of an unchanged node: no perpetual diff
      expect((await limitsLifecycle.read("", { ...c, path: "tenant" })).props!.limits).toEqual(inputs.limits);
    });

    it("updates live: a process inside keeps its pid; a removed field returns to the default", async () => {
      const { inputs } = await make("live", { memory: { max: "128Mi" }, pids: { max: 100 } });
      const pid = await h.startIn(prefix, "live", "sleep 600");
      expect(await procs("live")).toBe(String(pid));
      const next = (await limitsLifecycle.check({}, { ...inputs, limits: { memory: { max: "256Mi" } } })).inputs!;
      expect(await limitsLifecycle.diff("", { ...inputs, path: "live" }, next)).toEqual({ changes: true });
      await limitsLifecycle.update("", { ...inputs, path: "live" }, next);
      expect(await read("live", "memory.max")).toBe(String(256 * 2 ** 20));
      expect(await read("live", "pids.max")).toBe("max");
      expect(await h.alive(pid)).toBe(true);
      expect(await procs("live")).toBe(String(pid));
      // delete with a process inside: a clear error by default, then kill on request
      await expect(limitsLifecycle.delete("", next)).rejects.toThrow(/still has 1 process\(es\) \(pids \d+\).*onDeleteWithProcesses/);
      await limitsLifecycle.delete("", { ...next, onDeleteWithProcesses: "kill" });
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) gone = !(await h.alive(pid)) || (await sleep(100), false);
      expect(gone).toBe(true);
    });

    it("enforces a nested budget: a hog in a child is OOM-killed at the parent's memory.max", async () => {
      const { inputs } = await make("child", {}, { parent: "tenant" });
      expect(inputs.parent).toBe("tenant");
      // v1 counts the kill in the victim's memcg and hits in failcnt; v2's memory.events count the
      // subtree's events (oom_kill) and the times the limit was hit (max)
      const counter = async (node: string, re: RegExp) => Number(re.exec(await read(node, h.v2 ? "memory.events" : "memory.oom_control"))?.[1] ?? 0);
      const oomKills = async () =>
        h.v2 ? counter("tenant", /^oom_kill (\d+)$/m) : (await counter("tenant", /oom_kill (\d+)/)) + (await counter("tenant/child", /oom_kill (\d+)/));
      const hits = async () => (h.v2 ? counter("tenant", /^max (\d+)$/m) : Number(await read("tenant", "memory.failcnt")));
      const before = await oomKills();
      const hitsBefore = await hits();
      expect(await h.runIn(prefix, "tenant/child", "dd if=/dev/zero of=/dev/null bs=200M count=1")).toBe(137);
      expect(await oomKills()).toBe(before + 1);
      expect(await hits()).toBeGreaterThan(hitsBefore);
    });

    it("a host is its machine: a new connection to it updates in place, another machine replaces", async () => {
      const c = (await limitsLifecycle.check({}, { host: host(), name: "tenant", limits: tenantLimits() })).inputs!;
      const outs = (await limitsLifecycle.read("", { ...c, path: "tenant" })).props!;
      expect(outs.machineId).toEqual(h.facts.machineId || expect.stringMatching(/^connection /));
      // the state knew this machine by another address (gone now): an update, not a replace
      const before = {
        ...outs,
        host: {
          ...host(),
          connection: { type: "ssh", host: "127.0.0.1", port: 1, user: "root", privateKey: "k", insecureIgnoreHostKey: true, connectTimeoutSeconds: 1 },
        },
      };
      expect(await limitsLifecycle.diff("", before, c)).toEqual({ changes: true });
      expect(await limitsLifecycle.diff("", { ...outs, machineId: "0123456789abcdef0123456789abcdef" }, c)).toMatchObject({ replaces: ["host"] });
    });

    it("rejects at check a child limit above its parent's, naming the input", async () => {
      const r = await limitsLifecycle.check({}, { host: host(), name: "big", parent: "tenant", limits: { memory: { max: "1Gi" }, pids: { max: 500 } } });
      expect(r.failures).toEqual([
        { property: "limits.memory.max", reason: expect.stringContaining("got 1Gi, above the parent tenant's 64Mi") },
        { property: "limits.pids.max", reason: expect.stringContaining("got 500, above the parent tenant's 50") },
      ]);
    });

    it("refuses to create over an existing cgroup unless adopt, and adopting keeps its processes", async () => {
      const { inputs } = await make("busy", {});
      const pid = await h.startIn(prefix, "busy", "sleep 600");
      await expect(limitsLifecycle.create(inputs)).rejects.toThrow(/already exists.*adopt: true/);
      const adopted = await limitsLifecycle.create({ ...inputs, adopt: true, limits: { pids: { max: 10 } } });
      expect(adopted.outs!.path).toBe("busy");
      expect(await h.alive(pid)).toBe(true);
      expect(await read("busy", "pids.max")).toBe("10");
    });
  });
}
