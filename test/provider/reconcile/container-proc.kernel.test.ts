// The container's own /proc (procViews, lxcfs per prefix): a container with memory.max 64Mi and
// cpu.max 0.5 reads 64 MiB, 1 CPU and its own uptime where programs look; one with the views off
// reads the host's (the control). The prefix's lxcfs killed: it comes back by itself, the
// containers started before see "Transport endpoint is not connected", and the next up restarts
// them. sysinfo(2) is not covered (the README says so; the probe shows it).
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { detailOf } from "../../../provider/reconcile/diff-detail";
import { forgetReads } from "../../../provider/reconcile/host-context";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-proc`;
const cs = new Containers(prefix);
let probeDir = "";
const limits = { memory: { max: "64Mi" }, cpu: { max: 0.5 } };
const args = (procViews: boolean): Props => ({
  command: ["sleep", "600"],
  stopGraceSeconds: 0,
  limits,
  procViews,
  security: { userNamespace: true },
  mounts: [{ type: "bind", source: probeDir, target: "/probe" }],
});
const hostMemTotal = () => readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s+(\d+) kB/m)![1];
const hostTasks = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[3]!.split("/")[1]);
const hostUptime = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);

/** What a container reads where programs look, one exec. */
async function seen(name: string) {
  const r = await cs.exec(
    name,
    [
      "grep MemTotal /proc/meminfo",
      "echo cpuinfo $(grep -c ^processor /proc/cpuinfo)",
      "echo online $(cat /sys/devices/system/cpu/online)",
      "echo uptime $(cut -d' ' -f1 /proc/uptime)",
      "echo loadavg $(cat /proc/loadavg)",
      "grep SwapTotal /proc/meminfo",
      "/probe/sizing",
      "echo free $(free | grep Mem:)",
    ].join("; "),
  );
  const field = (re: RegExp) => r.out.match(re)?.[1];
  return {
    out: r.out,
    memTotal: field(/^MemTotal:\s+(\d+) kB/m),
    cpuinfo: Number(field(/^cpuinfo (\d+)/m)),
    online: field(/^online (\S+)/m),
    uptime: Number(field(/^uptime (\S+)/m)),
    /** loadavg's "running/total" tasks: the container's own with the views, the host's without. */
    tasks: Number(field(/^loadavg \S+ \S+ \S+ \d+\/(\d+)/m)),
    swapTotal: field(/^SwapTotal:\s+(\d+) kB/m),
    nprocessors: Number(field(/^nprocessors_onln (\d+)/m)),
    sysinfoRam: field(/^sysinfo_totalram_kb (\d+)/m),
    sysinfoUptime: Number(field(/^sysinfo_uptime (\d+)/m)),
    /** busybox free's total (sysinfo(2)) and available (/proc/meminfo), in kB. */
    freeTotal: field(/^free Mem: (\d+)/m),
    freeAvailable: Number(field(/^free Mem:(?: \d+){5} (\d+)/m)),
  };
}

/** The pid of the lxcfs serving this prefix. */
function lxcfsPid(): number | undefined {
  const out = execFileSync(
    "sh",
    ["-c", `for p in $(pgrep -x lxcfs); do tr '\\0' ' ' < /proc/$p/cmdline | grep -q ' /run/${prefix}/lxcfs $' && echo $p; done; true`],
    { encoding: "utf8" },
  );
  return out.trim() ? Number(out.trim().split("\n")[0]) : undefined;
}

const made = new Map<string, { outs: Props; inputs: Props }>();

describe("the container's own /proc", () => {
  beforeAll(() => {
    probeDir = mkdtempSync(join(tmpdir(), "kslice-probe-"));
    chmodSync(probeDir, 0o755);
    execFileSync("gcc", ["-static", "-O1", "-Wall", "-o", join(probeDir, "sizing"), join(__dirname, "../../fixtures/probes/sizing.c")]);
  });

  afterAll(async () => {
    await cs.cleanup(false);
    // lxcfs goes with the prefix's last container
    const left = lxcfsPid();
    await cs.deleteHost();
    rmSync(probeDir, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
    expect(left).toBeUndefined();
  });

  it("refuses a procViews that is not a boolean at check, naming it", async () => {
    const r = await L.check({}, { host: cs.host, name: "bad", ...args(true), procViews: "yes" });
    expect(r.failures?.map((f) => f.property)).toEqual(["procViews"]);
  });

  it("shows a 64Mi, 0.5-CPU container its own memory, 1 CPU and its own uptime; with procViews off, the host's", async () => {
    const viewed = await cs.create("viewed", args(true));
    const plain = await cs.create("plain", args(false));
    made.set("viewed", viewed).set("plain", plain);
    const v = await seen("viewed");
    expect(v.memTotal, v.out).toBe("65536");
    expect(v.cpuinfo).toBe(1);
    expect(v.online).toBe("0");
    // a real program: glibc's sysconf reads /sys/devices/system/cpu/online
    expect(v.nprocessors).toBe(1);
    expect(v.uptime).toBeLessThan(60);
    // its own load: its tasks (sleep, and the exec's shell and cat), not the host's hundreds
    expect(v.tasks).toBeLessThan(10);
    // no swap on this host: none inside either
    expect(v.swapTotal).toBe("0");
    // sysinfo(2) is the kernel's own answer: lxcfs does not cover it
    expect(v.sysinfoRam).toBe(hostMemTotal());
    expect(v.sysinfoUptime).toBeGreaterThan(hostUptime() - 60);
    // busybox free: total from sysinfo(2) (the host's), available from /proc/meminfo (its own)
    expect(v.freeTotal).toBe(hostMemTotal());
    expect(v.freeAvailable).toBeLessThanOrEqual(65536);

    // the control: the same limits, views off, the host's values
    const p = await seen("plain");
    expect(p.memTotal, p.out).toBe(hostMemTotal());
    expect(p.cpuinfo).toBe(cpus().length);
    expect(p.nprocessors).toBe(cpus().length);
    expect(p.uptime).toBeGreaterThan(hostUptime() - 60);
    expect(p.tasks).toBeGreaterThan(Math.min(50, hostTasks() / 2));
    // the host's uptime must be long enough for "its own" to mean something
    expect(hostUptime()).toBeGreaterThan(120);

    // the views are read-only
    expect((await cs.exec("viewed", "echo 1 > /proc/meminfo")).code).not.toBe(0);
    forgetReads();
    expect(await L.diff("", viewed.outs, viewed.inputs)).toEqual({ changes: false });
    expect(await L.diff("", plain.outs, plain.inputs)).toEqual({ changes: false });
  });

  it("lxcfs killed: it comes back, the containers started before fail with ENOTCONN, and the next up restarts them with working views", async () => {
    const { outs, inputs } = made.get("viewed")!;
    const before = lxcfsPid();
    expect(before).toBeDefined();
    process.kill(before!, "SIGKILL");
    // the loop (or systemd's Restart=always) starts it again within about a second
    let after: number | undefined;
    for (let i = 0; i < 50 && (after === undefined || after === before); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = lxcfsPid();
    }
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    const stale = await cs.exec("viewed", "cat /proc/uptime");
    expect(stale.code).not.toBe(0);
    expect(stale.out).toMatch(/Transport endpoint is not connected/);
    // busybox free reads /proc/meminfo: it fails too
    const free = await cs.exec("viewed", "free");
    expect(free.out).toMatch(/can't open '\/proc\/meminfo': Transport endpoint is not connected/);

    forgetReads();
    const diff = await L.diff("", outs, inputs);
    expect(diff.changes).toBe(true);
    expect(detailOf(diff)).toEqual(["procViews"]);
    // the control has no views: nothing to repair
    forgetReads();
    expect(await L.diff("", made.get("plain")!.outs, made.get("plain")!.inputs)).toEqual({ changes: false });

    const updated = (await L.update("", outs, inputs)).outs!;
    expect(updated.pid).not.toBe(outs.pid);
    const v = await seen("viewed");
    expect(v.memTotal, v.out).toBe("65536");
    expect(v.uptime).toBeLessThan(60);
    forgetReads();
    expect(await L.diff("", updated, inputs)).toEqual({ changes: false });
    made.set("viewed", { outs: updated, inputs });
  });

  it("turning procViews on restarts the container with the views", async () => {
    const { outs, inputs } = made.get("plain")!;
    const on = { ...inputs, procViews: true };
    expect((await L.check(outs, on)).failures).toBeUndefined();
    const diff = await L.diff("", outs, on);
    expect(diff.changes).toBe(true);
    expect(diff.replaces).toBeUndefined();
    const updated = (await L.update("", outs, on)).outs!;
    expect(updated.pid).not.toBe(outs.pid);
    expect((await seen("plain")).memTotal).toBe("65536");
    made.set("plain", { outs: updated, inputs: on });
  });
});
