import { describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { hostLifecycle } from "../../../provider/reconcile/host";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { localCgroupFile, localFactsSync, localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { hostCommands } from "../../../provider/transport/transport";

describe("Host lifecycle on the local host", () => {
  const inputs = { connection: { type: "local" }, prefix: testPrefix };

  it("check fills defaults; create reads the kernel; diff of an unchanged host is empty", async () => {
    const checked = await hostLifecycle.check({}, inputs);
    expect(checked.failures).toBeUndefined();
    expect(checked.inputs).toEqual({ ...inputs, runtime: "auto" });
    const created = await hostLifecycle.create(checked.inputs!);
    expect(created.id).toBe(`local/${testPrefix}`);
    expect(created.outs).toMatchObject({ runtimeName: localRuntime(), cgroupMode: localFactsSync().cgroupMode, machineId: localFactsSync().machineId });
    expect(await hostLifecycle.diff(created.id, created.outs!, checked.inputs!)).toEqual({ changes: false });
  });

  it("diff finds a fact that no longer matches the kernel", async () => {
    const created = await hostLifecycle.create({ ...inputs, runtime: "auto" });
    const stale = { ...created.outs!, kernelRelease: "2.6.32-openvz" };
    expect(await hostLifecycle.diff(created.id, stale, { ...inputs, runtime: "auto" })).toEqual({ changes: true });
  });

  it("a new prefix or another host replaces; a runtime choice updates in place", async () => {
    const olds = { ...inputs, runtime: "auto" };
    expect(await hostLifecycle.diff("x", olds, { ...olds, prefix: `${testPrefix}b` })).toMatchObject({ replaces: ["prefix"] });
    expect(await hostLifecycle.diff("x", olds, { ...olds, runtime: "runc" })).toEqual({ changes: true });
  });

  it("a host is its machine: another way into the same machine updates, another machine replaces", async () => {
    const created = (await hostLifecycle.create({ ...inputs, runtime: "auto" })).outs!;
    // this machine was reached over SSH before: now locally, the same machine-id
    const overSsh = { ...created, connection: { type: "ssh", host: "127.0.0.1", port: 1, user: "root", privateKey: "k", insecureIgnoreHostKey: true, connectTimeoutSeconds: 10 } };
    expect(await hostLifecycle.diff("x", overSsh, { ...inputs, runtime: "auto" })).toEqual({ changes: true });
    // the outputs recorded another machine: the same connection now reaches a different one
    const elsewhere = { ...created, machineId: "0123456789abcdef0123456789abcdef" };
    expect(await hostLifecycle.diff("x", elsewhere, { ...inputs, runtime: "auto" })).toMatchObject({ replaces: ["connection"] });
    // state from before machine ids: connections are compared, as before
    const { machineId: _, ...unrecorded } = overSsh as Record<string, unknown>;
    expect(await hostLifecycle.diff("x", unrecorded, { ...inputs, runtime: "auto" })).toMatchObject({ replaces: ["connection"] });
  });

  it("delete refuses while kslice objects remain, listing them, and removes the setup after", async () => {
    const p = `${testPrefix}-hd`;
    const limits = { host: { connection: { type: "local" }, prefix: p }, name: "left" };
    const made = await limitsLifecycle.create((await limitsLifecycle.check({}, limits)).inputs!);
    const host = { connection: { type: "local" }, prefix: p, runtime: "auto" };
    await expect(hostLifecycle.delete("", host)).rejects.toThrow(`cgroups ${p}/left remain`);
    expect(existsSync(localCgroupFile(p, "left", "pids.max"))).toBe(true);
    await limitsLifecycle.delete(made.id, made.outs!);
    const before = hostCommands();
    await hostLifecycle.delete("", host);
    // one read of the prefix's users, then one transaction (was 8 commands of ad-hoc shell)
    console.log(`[host] delete ran ${hostCommands() - before} host commands`);
    expect(hostCommands() - before).toBe(2);
    expect(leaksOf(p)).toEqual([]);
  });

  const hybrid = localFactsSync().cgroupMode === "hybrid";
  if (!hybrid) console.log("[host] skipped: crun refused in hybrid mode (this host is not hybrid)");
  it.skipIf(!hybrid)("check rejects crun on a hybrid host at the runtime input", async () => {
    const r = await hostLifecycle.check({}, { ...inputs, runtime: "crun" });
    expect(r.failures).toEqual([{ property: "runtime", reason: expect.stringContaining("hybrid") }]);
  });
});

describe("Host delete when /var/lib/<prefix> is a mount point", () => {
  it("empties it and leaves the mount point, saying so", async () => {
    const p = `${testPrefix}-hmnt`;
    const dir = `/var/lib/${p}`;
    mkdirSync(dir, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const limits = { host: { connection: { type: "local" }, prefix: p }, name: "n" };
      const made = await limitsLifecycle.create((await limitsLifecycle.check({}, limits)).inputs!);
      mkdirSync(`${dir}/templates/busybox`, { recursive: true });
      writeFileSync(`${dir}/templates/.lock-busybox`, "");
      await limitsLifecycle.delete(made.id, made.outs!);
      await hostLifecycle.delete("", { connection: { type: "local" }, prefix: p, runtime: "auto" });
      expect(execFileSync("mountpoint", ["-q", dir]).length).toBe(0); // still mounted
      expect(readdirSync(dir)).toEqual([]);
      expect(warn.mock.calls.flat().join(" ")).toContain(`${dir} emptied and kept: a mount point`);
    } finally {
      warn.mockRestore();
      execFileSync("sh", ["-c", `umount ${dir}; rmdir ${dir}`]);
    }
    expect(leaksOf(p)).toEqual([]);
  });
});
