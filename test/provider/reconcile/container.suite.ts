import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { Containers } from "../../helpers/containers";
import type { HostUnderTest } from "../../helpers/host";
import { sleep } from "../../helpers/procs";

/**
 * The Container lifecycle suite, run against any host: this machine (container.kernel.test.ts) and
 * a cgroup v2 lab VM over SSH with crun (test/lab/suites-v2.lab.test.ts).
 */
export function containerSuite(connect: () => Promise<HostUnderTest>, prefix: string): void {
  let h: HostUnderTest;
  let cs: Containers;
  const runtime = (...args: string[]) => h.runtimeCli(prefix, ...args);
  const pidsMax = (name: string) => h.cgroupFile(prefix, name, "pids.max");
  const bundle = (name: string) => `/var/lib/${prefix}/containers/${name}`;
  const webArgs = { command: ["sh", "-c", "echo started; exec sleep 600"], limits: { pids: { max: 32 }, memory: { max: "64Mi" } }, stopGraceSeconds: 1 };
  const web = () => ({ host: cs.host, name: "web", ...webArgs });

  describe("Container lifecycle against the host's runtime and kernel", () => {
    beforeAll(async () => {
      h = await connect();
      cs = new Containers(prefix, h.connection as never);
      console.log(`[container] host ${h.name}: cgroup ${h.facts.cgroupMode}, runtime ${h.runtime}`);
    });

    afterAll(async () => {
      if (!h) return;
      await cs.cleanup();
      expect(await h.leaks(prefix)).toEqual([]);
    });

    it("creates a running container with its limits, log and usage", async () => {
      const { outs } = await cs.create("web", { ...webArgs, reportUsage: true });
      expect(outs).toMatchObject({ status: "running", runtime: h.runtime, cgroupPath: "web" });
      expect(await h.alive(outs.pid as number)).toBe(true);
      expect(await h.read(pidsMax("web"))).toBe("32");
      let log = "";
      for (let i = 0; i < 50 && !log.includes("started"); i++) log = (await h.read(outs.logPath as string).catch(() => "")) || (await sleep(100), "");
      expect(log).toContain("started");
      expect((outs.usage as { pidsCurrent: number }).pidsCurrent).toBe(1);
    });

    it("finds drift (limit changed, container stopped, init replaced) and update repairs it live", async () => {
      const c = (await L.check({}, web())).inputs!;
      let outs = (await L.read("", { ...c, pid: 0 })).props!;
      expect(await L.diff("", outs, c)).toEqual({ changes: false });

      // a limit changed by hand: repaired without a restart
      const pid = outs.pid;
      await h.write(pidsMax("web"), "999");
      forgetReads();
      expect(await L.diff("", outs, c)).toEqual({ changes: true });
      expect((await L.read("", outs)).props!.limits).toEqual({ pids: { max: 999 }, memory: { max: "64Mi" } });
      outs = (await L.update("", outs, c)).outs!;
      expect(await h.read(pidsMax("web"))).toBe("32");
      expect(outs.pid).toBe(pid);

      // killed behind kslice's back: read shows it stopped, update starts it again
      await runtime("kill", "web", "KILL");
      for (let i = 0; i < 50 && (await h.alive(pid as number)); i++) await sleep(100);
      forgetReads();
      expect(await L.diff("", outs, c)).toEqual({ changes: true });
      expect((await L.read("", outs)).props!.state).toBe("stopped");
      outs = (await L.update("", outs, c)).outs!;
      expect(outs.status).toBe("running");
      expect(outs.pid).not.toBe(pid);
      expect(await h.read(pidsMax("web"))).toBe("32");
      expect(await L.diff("", outs, c)).toEqual({ changes: false });

      // the init replaced by another command under the same id: update brings back the declared one
      const second = outs.pid as number;
      await runtime("kill", "web", "KILL");
      for (let i = 0; i < 50 && (await h.alive(second)); i++) await sleep(100);
      await runtime("delete", "web");
      const cfg = JSON.parse(await h.read(`${bundle("web")}/config.json`));
      cfg.process.args = ["sleep", "999"];
      await h.write(`${bundle("web")}/config.json`, JSON.stringify(cfg));
      const run = await h.sh(`${h.runtime} --root /run/${prefix}/runtime run -d --bundle ${bundle("web")} web </dev/null >/dev/null 2>&1`);
      expect(run.code).toBe(0);
      forgetReads();
      expect(await L.diff("", outs, c)).toEqual({ changes: true });
      outs = (await L.update("", outs, c)).outs!;
      expect(await h.read(`/proc/${outs.pid}/cmdline`)).not.toContain("999");
      expect(JSON.parse(await h.read(`${bundle("web")}/config.json`)).process.args[0]).toBe("sh");
      expect(await L.diff("", outs, c)).toEqual({ changes: false });
    });

    it("stops and starts live when state changes, keeping the bundle", async () => {
      const c = (await L.check({}, web())).inputs!;
      const outs = (await L.read("", { ...c })).props!;
      const stopped = (await L.update("", outs, { ...c, state: "stopped" })).outs!;
      expect(stopped).toMatchObject({ status: "stopped", pid: 0 });
      expect(await h.alive(outs.pid as number)).toBe(false);
      expect(await h.exists(`${bundle("web")}/config.json`)).toBe(true);
      expect(await L.diff("", stopped, { ...c, state: "stopped" })).toEqual({ changes: false });
      const again = (await L.update("", stopped, c)).outs!;
      expect(again.status).toBe("running");
    });

    it("classifies changes: limits and state are live, command and rootfs replace", async () => {
      const o = (await L.check({}, { host: cs.host, name: "web", command: ["sleep", "1"], limits: {} })).inputs!;
      expect(await L.diff("", o, { ...o, command: ["sleep", "2"] })).toEqual({ changes: true, replaces: ["command"], deleteBeforeReplace: true });
      expect(await L.diff("", o, { ...o, rootfs: { path: "/tmp" } })).toMatchObject({ replaces: ["rootfs"] });
      expect(await L.diff("", o, { ...o, limits: { pids: { max: 5 } } })).toEqual({ changes: true });
      expect(await L.diff("", o, { ...o, state: "stopped" })).toEqual({ changes: true });
    });

    it("a failed create leaves no bundle, cgroup, mount, runtime state or process", async () => {
      const before = await h.leaks(prefix);
      const err = (await cs.create("broken", { command: ["/no/such/binary"], limits: { pids: { max: 8 } } }).catch((e) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain("container broken");
      expect(err.message).toMatch(/no such file|not found|executable file/i);
      expect(await h.exists(bundle("broken"))).toBe(false);
      expect(await h.exists(pidsMax("broken").replace(/\/pids\.max$/, ""))).toBe(false);
      expect(await runtime("list", "-q")).not.toContain("broken");
      expect(await h.read("/proc/mounts")).not.toContain(`${prefix}/containers/broken`);
      expect(await h.leaks(prefix)).toEqual(before);
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
      for (let i = 0; i < 50 && (await h.alive(outs.pid as number)); i++) await sleep(100);
      expect(await h.alive(outs.pid as number)).toBe(false);
      expect(await h.exists(bundle("kept"))).toBe(false);
    });
  });
}
