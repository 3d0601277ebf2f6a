// The operator CLI against a real cgroup v2 host over SSH (crun): `ps --json` must agree with v2's
// files, and an OOM kill must show in v2's counters (memory.events), which the build machines
// (cgroup v1) never have. Containers are made through the lifecycles; the CLI runs as a child
// process with --ssh/--key/--host-key; the test reads the kernel over its own ssh.
import { afterAll, describe, expect, it } from "vitest";
import type { PrefixView } from "../../cli/model";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import { limitsLifecycle as L } from "../../provider/reconcile/limits";
import type { Props } from "../../provider/reconcile/provider-types";
import { closeAllTransports } from "../../provider/transport/open";
import { kslice } from "../helpers/cli";
import { sshConnection, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { run } from "./exec";
import { sshOptions } from "./ssh";

const prefix = `${testPrefix}-lcli`;
const cg = `/sys/fs/cgroup/${prefix}`;
const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);

describe("kslice CLI over SSH on a cgroup v2 host (crun)", () => {
  // the build machine is shared: under load a TCG guest can take well over the default 90 s to boot
  const lab = useLab(1, { bootTimeoutMs: 300_000 });
  const vm = (): LabHost => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  const cli = (...args: string[]) =>
    kslice(
      [
        "--ssh",
        `${vm().ssh.user}@${vm().ssh.host}:${vm().ssh.port}`,
        "--key",
        vm().ssh.privateKeyPath,
        "--host-key",
        vm().ssh.hostKey,
        "--prefix",
        prefix,
        ...args,
      ],
      180_000,
    );
  const sshCat = async (files: string[]) => {
    const r = await run("ssh", [...sshOptions(vm().ssh), vm().ssh.host, "--", files.map((f) => `echo "@@${f}"; cat ${f}`).join("; ")], { timeoutMs: 60_000 });
    return Object.fromEntries(
      r.stdout
        .split("@@")
        .filter(Boolean)
        .map((part) => [part.slice(0, part.indexOf("\n")), part.slice(part.indexOf("\n") + 1).trim()]),
    );
  };
  const make = async (lc: typeof C | typeof L, args: Props) => {
    const c = await lc.check({}, { host: host(), ...args });
    expect(c.failures).toBeUndefined();
    await lc.create(c.inputs!);
  };

  afterAll(async () => {
    try {
      vm();
    } catch {
      return; // the lab did not boot: nothing was made
    }
    try {
      for (const [name, parent] of [
        ["web", "tenant"],
        ["hog", undefined],
      ] as const) {
        await C.delete("", { host: host(), name, parent, command: ["true"] }).catch(() => undefined);
      }
      await L.delete("", { host: host(), name: "tenant", onDeleteWithProcesses: "kill" }).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
      const left = await run("ssh", [...sshOptions(vm().ssh), vm().ssh.host, "--", `ls -d ${cg} /run/${prefix} /var/lib/${prefix} 2>/dev/null`], {
        timeoutMs: 60_000,
        allowFailure: true,
      });
      expect(left.stdout.trim()).toBe("");
    } finally {
      await closeAllTransports();
    }
  });

  it("ps --json over --ssh agrees with cgroup v2's files, OOM kill included", async () => {
    await make(L, { name: "tenant", limits: { memory: { max: "128Mi", high: "96Mi" }, pids: { max: 50 }, cpu: { max: 1 } } });
    await make(C, { name: "web", parent: "tenant", command: ["sleep", "600"], limits: { memory: { max: "48Mi" }, pids: { max: 20 }, cpu: { max: 0.5 } } });
    await make(C, {
      name: "hog",
      command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 600"],
      limits: { memory: { max: "32Mi" } },
    });
    await new Promise((r) => setTimeout(r, 5000)); // the hog's dd (TCG is slow)
    const r = await cli("ps", "--json", "--interval", "1");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout) as PrefixView;
    const k = await sshCat([
      `${cg}/tenant/web/memory.max`,
      `${cg}/tenant/web/pids.max`,
      `${cg}/tenant/web/cpu.max`,
      `${cg}/tenant/web/memory.peak`,
      `${cg}/tenant/memory.high`,
      `${cg}/hog/memory.events`,
      `${cg}/hog/pids.events`,
      `${cg}/tenant/web/cpu.stat`,
    ]);
    expect(view).toMatchObject({ cgroupVersion: 2, runtime: "crun", prefix });
    const web = view.containers.find((c) => c.name === "web")!;
    expect(web).toMatchObject({ status: "running", cgroup: "tenant/web" });
    expect(web.memory.maxBytes).toBe(Number(k[`${cg}/tenant/web/memory.max`]));
    expect(web.pids.max).toBe(Number(k[`${cg}/tenant/web/pids.max`]));
    const [quota, period] = k[`${cg}/tenant/web/cpu.max`]!.split(" ").map(Number);
    expect(web.cpu.maxCores).toBe(quota! / period!);
    expect(web.memory.peakBytes).toBe(Number(k[`${cg}/tenant/web/memory.peak`]));
    expect(web.failures.cpuThrottledPeriods).toBe(field(k[`${cg}/tenant/web/cpu.stat`]!, "nr_throttled"));
    const tenant = view.budgets.find((b) => b.path === "tenant")!;
    expect(tenant.memory.highBytes).toBe(Number(k[`${cg}/tenant/memory.high`]));
    expect(tenant.containers).toEqual(["web"]);
    const hog = view.containers.find((c) => c.name === "hog")!;
    const events = k[`${cg}/hog/memory.events`]!;
    expect(field(events, "oom_kill")).toBeGreaterThan(0);
    expect(hog.failures).toMatchObject({
      oomKills: field(events, "oom_kill"),
      memoryMaxEvents: field(events, "max"),
      memoryHighEvents: field(events, "high"),
      pidsMaxHits: field(k[`${cg}/hog/pids.events`]!, "max"),
    });
  });

  it("exec over SSH runs in the container's pid namespace", async () => {
    const r = await cli("exec", "web", "--", "cat", "/proc/1/cmdline");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\0").filter(Boolean)).toEqual(["sleep", "600"]);
  });
});
