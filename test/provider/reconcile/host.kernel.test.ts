import { describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import type { PrefixView } from "../../../cli/model";
import { kslice } from "../../helpers/cli";
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
    const overSsh = {
      ...created,
      connection: { type: "ssh", host: "127.0.0.1", port: 1, user: "root", privateKey: "k", insecureIgnoreHostKey: true, connectTimeoutSeconds: 10 },
    };
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
    const warn = vi.spyOn(console, "error").mockImplementation(() => undefined); // provider/log.ts writes through it
    try {
      const limits = { host: { connection: { type: "local" }, prefix: p }, name: "n" };
      const made = await limitsLifecycle.create((await limitsLifecycle.check({}, limits)).inputs!);
      mkdirSync(`${dir}/templates/busybox`, { recursive: true });
      writeFileSync(`${dir}/templates/.lock-busybox`, "");
      await limitsLifecycle.delete(made.id, made.outs!);
      await hostLifecycle.delete("", { connection: { type: "local" }, prefix: p, runtime: "auto" });
      expect(execFileSync("mountpoint", ["-q", dir]).length).toBe(0); // still mounted
      expect(readdirSync(dir)).toEqual([]);
      expect(warn.mock.calls.flat().join(" ")).toContain(`kslice: warning: local: prefix "${p}": ${dir} emptied and kept: a mount point`);
    } finally {
      warn.mockRestore();
      execFileSync("sh", ["-c", `umount ${dir}; rmdir ${dir}`]);
    }
    expect(leaksOf(p)).toEqual([]);
  });
});

describe("a Host's draining, recorded on the host", () => {
  it("is written by create and update, shown by kslice ps --json, cleared when false and gone with the Host", async () => {
    const p = `${testPrefix}-hdr`;
    const urn = (stack: string) => `urn:pulumi:${stack}::fleet::kslice:index:Host::edge`;
    const host = (stack: string, draining: boolean) => ({ connection: { type: "local" }, prefix: p, runtime: "auto", draining, owner: urn(stack) });
    const record = (stack: string) => `/var/lib/${p}/draining/fleet%2F${stack}`;
    const ps = async () => {
      const r = await kslice(["--prefix", p, "ps", "--json", "--interval", "0"]);
      expect(r.stderr).toBe("");
      const v = JSON.parse(r.stdout) as PrefixView;
      return { draining: v.draining, stacks: v.drainingStacks };
    };
    // a budget, so that ps finds something under the prefix
    const limits = await limitsLifecycle.create((await limitsLifecycle.check({}, { host: { connection: { type: "local" }, prefix: p }, name: "b" })).inputs!);
    try {
      const a = await hostLifecycle.create(host("a", true));
      await hostLifecycle.create(host("b", false));
      expect(JSON.parse(readFileSync(record("a"), "utf8"))).toEqual({ owner: urn("a") });
      expect(existsSync(record("b"))).toBe(false);
      expect(await ps()).toEqual({ draining: true, stacks: ["fleet/a"] });
      // a damaged record (a power loss, a hand edit) is no record: the sample still reads the rest
      writeFileSync(`/var/lib/${p}/draining/broken`, '{"own');
      expect(await ps()).toEqual({ draining: true, stacks: ["fleet/a"] });
      await hostLifecycle.update(a.id, a.outs!, host("a", false));
      expect(existsSync(record("a"))).toBe(false);
      expect(await ps()).toEqual({ draining: false, stacks: [] });
      await hostLifecycle.update(a.id, a.outs!, host("a", true));
      await hostLifecycle.update("", host("b", false), host("b", true));
      expect(await ps()).toEqual({ draining: true, stacks: ["fleet/a", "fleet/b"] });
      // b's delete while a still uses the prefix takes only b's records
      await hostLifecycle.delete("", host("b", true));
      expect(existsSync(record("b"))).toBe(false);
      expect(await ps()).toEqual({ draining: true, stacks: ["fleet/a"] });
      await limitsLifecycle.delete(limits.id, limits.outs!);
      await hostLifecycle.delete("", host("a", true));
      expect(existsSync(`/var/lib/${p}`)).toBe(false);
    } finally {
      await limitsLifecycle.delete(limits.id, limits.outs!).catch(() => undefined);
      for (const stack of ["b", "a"]) await hostLifecycle.delete("", host(stack, false)).catch(() => undefined);
    }
    expect(leaksOf(p)).toEqual([]);
  });
});
