// Faults a host's bad day brings (issue 11): a frozen container, a supervisor restart after a live
// limit change, a crash loop, the supervisor's caller going away, and a reboot (simulated: the
// container stopped behind kslice's back, its rootfs unmounted, /run/<prefix>, the bridge and the
// nftables table gone), after which boot.sh, or a plain update, brings everything back.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { localCgroupFile, localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";
import { sleep } from "../../helpers/procs";

const prefix = `${testPrefix}-srv`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const runc = (...args: string[]) => execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8" });
const stateOf = (id: string): { status: string; pid: number } => {
  try {
    return JSON.parse(runc("state", id));
  } catch {
    return { status: "missing", pid: 0 };
  }
};
const bundle = (name: string) => `/var/lib/${prefix}/containers/${name}`;
/** The supervisor shell, not its subshells (a forked `$(…)` has the same command line for a moment). */
const supervisorPids = () => {
  let pids: string[];
  try {
    pids = execFileSync("pgrep", ["-xf", `sh /var/lib/${prefix}/supervisor.sh`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
  const ppid = (pid: string) => {
    try {
      return /^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    } catch {
      return undefined; // gone since pgrep: a subshell
    }
  };
  return pids.filter((p) => {
    const pp = ppid(p);
    return pp !== undefined && !pids.includes(pp);
  });
};

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (what()) return true;
  return what();
}

/** Everything a reboot takes: processes, runtime state, mounts, cgroups, bridges, rules, /run. */
async function simulateReboot(names: string[], bridge: string): Promise<void> {
  const script = [
    ...names.map((n) => `${localRuntime()} --root /run/${prefix}/runtime delete --force ${n} 2>/dev/null; umount ${bundle(n)}/rootfs 2>/dev/null`),
    `kill $(cat ${localCgroupFile(`${prefix}-supervisor`, "", "cgroup.procs")}) 2>/dev/null`,
    `sleep 0.3`,
    `for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do find "$m/${prefix}" "$m/${prefix}-supervisor" -depth -type d -exec rmdir {} + 2>/dev/null; done`,
    `rm -rf /run/${prefix}`,
    `ip link del dev ${bridge} 2>/dev/null`,
    `for f in /sys/class/net/ks*/ifalias; do case $(cat "$f" 2>/dev/null) in ${prefix}/*) d=\${f%/ifalias}; ip link del dev "\${d##*/}" ;; esac; done 2>/dev/null`,
    `nft delete table ip ${prefix} 2>/dev/null`,
    `nft delete table bridge ${prefix} 2>/dev/null`,
    // ip_forward is left alone: it is the host's, shared with whatever else runs here
    `true`,
  ].join("\n");
  const r = await sh(script, 30_000);
  expect(r.code).toBe(0);
  for (const n of names) expect(stateOf(n).status).toBe("missing");
  expect(existsSync(`${bundle(names[0]!)}/rootfs/bin`)).toBe(false);
  forgetReads();
}

describe("containers survive the host's bad day", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("a frozen container is observed paused with its pid, and update thaws it (same pid)", async () => {
    const c = await cs.create("frozen", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    const pid = c.outs.pid as number;
    runc("pause", "frozen");
    forgetReads();
    const read = (await L.read("", c.outs)).props!;
    expect(read).toMatchObject({ status: "paused", pid });
    expect(await L.diff("", c.outs, c.inputs)).toEqual({ changes: true });
    const outs = (await L.update("", read, c.inputs)).outs!;
    expect(outs).toMatchObject({ status: "running", pid });
    expect(stateOf("frozen")).toMatchObject({ status: "running", pid });
    expect(await L.diff("", outs, c.inputs)).toEqual({ changes: false });
    // frozen again, it is still deleted cleanly (thawed first)
    runc("pause", "frozen");
    await L.delete("", outs);
    expect(stateOf("frozen").status).toBe("missing");
    expect(existsSync(bundle("frozen"))).toBe(false);
  });

  it("a live limit change is what the supervisor's restart writes (start.sh is rewritten)", async () => {
    const c = await cs.create("keeper", { command: ["sleep", "600"], restartPolicy: "always", limits: { pids: { max: 12 } }, stopGraceSeconds: 1 });
    const outs = (await L.update("", c.outs, { ...c.inputs, limits: { pids: { max: 20 } } })).outs!;
    expect(outs.pid).toBe(c.outs.pid);
    expect(readFileSync(localCgroupFile(prefix, "keeper", "pids.max"), "utf8").trim()).toBe("20");
    runc("kill", "keeper", "KILL");
    expect(await until(() => stateOf("keeper").status === "running" && stateOf("keeper").pid !== c.outs.pid, 10_000)).toBe(true);
    expect(readFileSync(localCgroupFile(prefix, "keeper", "pids.max"), "utf8").trim()).toBe("20");
  });

  it("the supervisor runs in a cgroup of its own, and a crash loop is restarted with growing delays", async () => {
    const c = await cs.create("crasher", { command: ["sh", "-c", "exit 3"], restartPolicy: "always", stopGraceSeconds: 1 });
    // on this host (no systemd) the supervisor leaves its caller's cgroups for <prefix>-supervisor
    await until(() => supervisorPids().length === 1, 5000);
    expect(supervisorPids()).toHaveLength(1);
    const pid = supervisorPids()[0]!;
    expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toMatch(new RegExp(`:pids:/${prefix}-supervisor\\n`));

    // without a backoff it is restarted once a second: 8 or so in 8 s; with 1, 2, 4 s delays at most 4
    await sleep(8000);
    const restarts = readFileSync(c.outs.logPath as string, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("kslice: restarting crasher"));
    expect(restarts.length).toBeGreaterThanOrEqual(2);
    expect(restarts.length).toBeLessThanOrEqual(4);
    const [n] = readFileSync(`${bundle("crasher")}/backoff`, "utf8")
      .trim()
      .split(" ");
    // the log line goes before a restart, the count after it
    expect(Number(n)).toBeGreaterThanOrEqual(restarts.length - 1);
    expect(Number(n)).toBeLessThanOrEqual(restarts.length);
    const now = (await L.read("", c.outs)).props!;
    await L.update("", now, { ...c.inputs, state: "stopped" });
  });

  let net: Awaited<ReturnType<Networks["create"]>>;
  let keep: Awaited<ReturnType<Containers["create"]>>;
  let idle: Awaited<ReturnType<Containers["create"]>>;

  it("after a reboot, boot.sh alone brings back the network and the running container with its data; the stopped one stays stopped", async () => {
    net = await ns.create("lan", { subnet: "10.219.77.0/24", nat: true });
    keep = await cs.create("keep", { command: ["sleep", "600"], networks: [{ network: ns.ref(net.outs), address: "10.219.77.10" }], stopGraceSeconds: 1 });
    idle = await cs.create("idle", { command: ["sleep", "600"], state: "stopped", stopGraceSeconds: 1 });
    expect((await cs.exec("keep", "echo precious > /data.txt && cat /data.txt")).out).toContain("precious");
    const bridge = net.outs.bridge as string;

    await simulateReboot(["keep", "keeper", "crasher"], bridge);
    const boot = await sh(`sh /var/lib/${prefix}/boot.sh`, 60_000);
    expect(boot.out).toBe("");
    expect(boot.code).toBe(0);

    expect(stateOf("keep").status).toBe("running");
    expect((await cs.exec("keep", "cat /data.txt")).out).toContain("precious");
    expect((await cs.exec("keep", "ip -o -4 addr show dev eth0")).out).toContain("10.219.77.10/24");
    // anti-spoofing back: the network's ensure.sh made the table and rules, the start its elements
    expect(execFileSync("nft", ["list", "set", "bridge", prefix, "ip4"], { encoding: "utf8" })).toMatch(/"ks[0-9a-f]+" \. 10\.219\.77\.10/);
    expect(stateOf("idle").status).toBe("missing");
    expect(stateOf("crasher").status).toBe("missing"); // stopped by kslice: left alone
    expect(await until(() => supervisorPids().length === 1, 5000)).toBe(true);
    // a second run (by hand) changes nothing
    const pid = stateOf("keep").pid;
    expect((await sh(`sh /var/lib/${prefix}/boot.sh`, 60_000)).code).toBe(0);
    expect(stateOf("keep").pid).toBe(pid);

    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    const read = (await L.read("", keep.outs)).props!;
    expect(read).toMatchObject({ status: "running", address: "10.219.77.10" });
    expect(await L.diff("", read, keep.inputs)).toEqual({ changes: false });
    expect(await L.diff("", (await L.read("", idle.outs)).props!, idle.inputs)).toEqual({ changes: false });
    keep.outs = read;
  });

  it("after a reboot without boot.sh, update repairs the network and starts the container with its data", async () => {
    await simulateReboot(["keep", "keeper"], net.outs.bridge as string);
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: true });
    net.outs = (await N.update("", net.outs, net.inputs)).outs!;
    const read = (await L.read("", keep.outs)).props! as Props;
    expect(read.state).toBe("stopped");
    expect(await L.diff("", read, keep.inputs)).toEqual({ changes: true });
    const outs = (await L.update("", read, keep.inputs)).outs!;
    expect(outs).toMatchObject({ status: "running", address: "10.219.77.10" });
    expect((await cs.exec("keep", "cat /data.txt")).out).toContain("precious");
    // no stray mountpoint litter: the rootfs is the overlay again
    expect((await sh(`mountpoint -q ${bundle("keep")}/rootfs`)).code).toBe(0);
    forgetReads();
    expect(await L.diff("", outs, keep.inputs)).toEqual({ changes: false });
    keep.outs = outs;
  });
});
