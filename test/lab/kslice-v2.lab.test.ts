// kslice on a real cgroup v2 host, over SSH: the v2 cgroup driver, crun, and the container start
// script, which the build machines (cgroup v1 hybrid, runc) never run. One lab VM (Debian bookworm,
// kernel 6.1, cgroup_no_v1=all), reached only through kslice's own SSH transport; the test reads
// the kernel's files over a separate ssh (sshRun) to check what kslice did.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Connection } from "../../schema/connection";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { CgroupDriver } from "../../provider/kernel/cgroup/driver";
import { hostLifecycle } from "../../provider/reconcile/host";
import { forgetReads, hostContext } from "../../provider/reconcile/host-context";
import { limitsLifecycle as L } from "../../provider/reconcile/limits";
import { networkLifecycle as N } from "../../provider/reconcile/network";
import type { Props } from "../../provider/reconcile/provider-types";
import { hostDiskScript } from "../../provider/kernel/container/disk";
import { closeAllTransports, openTransport } from "../../provider/transport/open";
import { shellQuote as q, type Transport } from "../../provider/transport/transport";
import { sshConnection, useLab, type LabHost } from "../helpers/lab";
import { run, type CommandResult } from "./exec";
import { sshOptions } from "./ssh";
import { testPrefix } from "../helpers/prefix";

const prefix = `${testPrefix}-v2`;
const cg = `/sys/fs/cgroup/${prefix}`;
const runtimeRoot = `/run/${prefix}/runtime`;
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("kslice on a cgroup v2 host over SSH (crun)", () => {
  const lab = useLab(1);
  const vm = (): LabHost => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  /** The connection as the schema fills it in (defaults included), for calls below the lifecycles. */
  const parsed = (): Connection => ({ ...sshConnection(vm()), insecureIgnoreHostKey: false, connectTimeoutSeconds: 10 });
  /** The transport the lifecycles share for this host (one per host per process), to count or watch its calls. */
  const transport = (): Transport => openTransport(parsed());

  // The test's own view of the VM: plain OpenSSH with the lab's options, independent of kslice's
  // transport, multiplexed over one master (a fresh handshake costs seconds on a TCG guest): the
  // shared guests' own (sshOptions gives it), or this file's when its guest is its own.
  const muxDir = mkdtempSync(join(tmpdir(), "ksv2-"));
  const ownMux = ["-o", "ControlMaster=auto", "-o", `ControlPath=${join(muxDir, "mux")}`, "-o", "ControlPersist=120"];
  const mux = () => (vm().ssh.mux ? [] : ownMux);
  const sshRun = (command: string): Promise<CommandResult> =>
    run("ssh", [...sshOptions(vm().ssh), ...mux(), vm().ssh.host, "--", command], { timeoutMs: 120_000, allowFailure: true });

  /** Runs a command on the VM; fails the test with its stderr unless it exits 0. */
  async function ok(command: string): Promise<string> {
    const r = await sshRun(command);
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    forgetReads(); // the command may have changed the kernel behind kslice's back
    return r.stdout;
  }
  const cat = async (path: string) => (await ok(`cat ${q(path)}`)).trim();
  const alive = async (pid: number) => (await sshRun(`grep -q '^State:[[:space:]]*[^Z]' /proc/${pid}/status`)).exitCode === 0;
  /** crun exec in a container, over SSH. */
  const exec = (name: string, script: string) => sshRun(`crun --root ${runtimeRoot} exec ${name} sh -c ${q(script)} 2>&1`);

  async function makeLimits(args: Props): Promise<Props> {
    const c = await L.check({}, { host: host(), ...args });
    expect(c.failures).toBeUndefined();
    await L.create(c.inputs!);
    return c.inputs!;
  }
  async function makeContainer(args: Props): Promise<{ inputs: Props; outs: Props }> {
    const c = await C.check({}, { host: host(), stopGraceSeconds: 1, ...args });
    expect(c.failures).toBeUndefined();
    const r = await C.create(c.inputs!);
    return { inputs: c.inputs!, outs: r.outs! };
  }

  // Best effort after a failure; the last test deletes everything itself and checks nothing is left.
  afterAll(async () => {
    let up = true;
    try {
      vm();
    } catch {
      up = false; // the lab did not boot: nothing was made
    }
    try {
      if (!up) return;
      for (const name of ["box", "web-a", "web-b", "n-web", "n-client", "n-sys", "p-view"]) {
        await C.delete("", { host: host(), name, parent: name.startsWith("web") ? "tenant" : undefined, command: ["true"] }).catch(() => undefined);
      }
      for (const [name, parent] of [
        ["kid", "live"],
        ["live", undefined],
        ["old", undefined],
        ["child", "tenant"],
        ["tenant", undefined],
      ] as const) {
        await L.delete("", { host: host(), name, parent, onDeleteWithProcesses: "kill" }).catch(() => undefined);
      }
      await N.delete("", { host: host(), name: "lan", subnet: "10.233.0.0/24" }).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
    } finally {
      await closeAllTransports();
      if (up && !vm().ssh.mux) await run("ssh", [...sshOptions(vm().ssh), ...ownMux, "-O", "exit", vm().ssh.host], { timeoutMs: 10_000, allowFailure: true });
      rmSync(muxDir, { recursive: true, force: true });
    }
  });

  it("reads the host facts over SSH: unified cgroup v2 with cpu, io, memory, pids; crun", async () => {
    const c = await hostLifecycle.check({}, host());
    expect(c.failures).toBeUndefined();
    const { outs } = await hostLifecycle.create(c.inputs!);
    expect(outs).toMatchObject({ hostname: vm().hostname, cgroupMode: "unified", runtimeName: "crun" });
    expect(outs!.cgroupControllers).toEqual(expect.arrayContaining(["cpu", "io", "memory", "pids"]));
    expect(outs!.kernelRelease).toMatch(/^6\.1\./);
    // an unchanged host has no diff against its kernel
    expect(await hostLifecycle.diff("", outs!, c.inputs!)).toEqual({ changes: false });
  });

  describe("ResourceLimits in cgroup v2 files", () => {
    const tenantLimits = { memory: { max: "64Mi", high: "48Mi", low: "16Mi" }, cpu: { weight: 200, max: 0.5 }, pids: { max: 50 }, io: { weight: 300 } };

    it("creates a node and writes every limit in v2's files (memory.high accepted on v2)", async () => {
      await makeLimits({ name: "tenant", limits: tenantLimits });
      const files = ["memory.max", "memory.high", "memory.low", "cpu.weight", "cpu.max", "pids.max", "io.weight"];
      const got = (await ok(files.map((f) => `cat ${cg}/tenant/${f}`).join("; "))).trim().split("\n");
      expect(Object.fromEntries(files.map((f, i) => [f, got[i]]))).toEqual({
        "memory.max": String(64 * MiB),
        "memory.high": String(48 * MiB),
        "memory.low": String(16 * MiB),
        "cpu.weight": "200",
        "cpu.max": "50000 100000",
        "pids.max": "50",
        "io.weight": "default 300",
      });
      // controllers reach the node through its parents' cgroup.subtree_control
      expect((await cat(`${cg}/tenant/cgroup.controllers`)).split(" ")).toEqual(expect.arrayContaining(["cpu", "io", "memory", "pids"]));
    });

    it("finds a limit changed by hand, shows the kernel's value, and repairs it", async () => {
      const c = (await L.check({}, { host: host(), name: "tenant", limits: tenantLimits })).inputs!;
      const outs = { ...c, path: "tenant" };
      expect(await L.diff("", outs, c)).toEqual({ changes: false });
      await ok(`echo 77 > ${cg}/tenant/pids.max`);
      expect(await L.diff("", outs, c)).toEqual({ changes: true });
      expect((await L.read("", outs)).props!.limits).toEqual({ ...tenantLimits, pids: { max: 77 } });
      await L.update("", outs, c);
      expect(await cat(`${cg}/tenant/pids.max`)).toBe("50");
      expect(await L.diff("", outs, c)).toEqual({ changes: false });
      // the user's notation survives a read of an unchanged node: no perpetual diff
      expect((await L.read("", outs)).props!.limits).toEqual(tenantLimits);
    });

    it("updates live: a process inside keeps its pid; removed fields return to the kernel's defaults", async () => {
      const cpuCount = (await hostLifecycle.create({ ...host(), runtime: "auto" })).outs!.cpuCount as number;
      const lastCpu = String(cpuCount - 1);
      const first = await makeLimits({
        name: "live",
        limits: {
          memory: { max: "128Mi" },
          pids: { max: 100 },
          cpu: { cpuset: { cpus: lastCpu } },
          io: { devices: [{ device: "/dev/vda", writeBps: "10Mi" }] },
        },
      });
      expect(await cat(`${cg}/live/cpuset.cpus`)).toBe(lastCpu);
      expect(await cat(`${cg}/live/io.max`)).toMatch(/^\d+:\d+ rbps=max wbps=10485760 riops=max wiops=max$/);
      // setsid + closed stdio: the sleep outlives the ssh session; exec keeps the shell's pid
      const pid = Number((await ok(`setsid sh -c 'echo $$ > ${cg}/live/cgroup.procs && exec sleep 600' </dev/null >/dev/null 2>&1 & echo $!`)).trim());
      await sleep(300);
      expect(await cat(`${cg}/live/cgroup.procs`)).toBe(String(pid));

      const next = (await L.check({}, { ...first, limits: { memory: { max: "256Mi" } } })).inputs!;
      expect(await L.diff("", { ...first, path: "live" }, next)).toEqual({ changes: true });
      await L.update("", { ...first, path: "live" }, next);
      expect(await cat(`${cg}/live/memory.max`)).toBe(String(256 * MiB));
      expect(await cat(`${cg}/live/pids.max`)).toBe("max");
      expect(await cat(`${cg}/live/io.max`)).toBe(""); // no rule for the device any more
      // the cpuset is the parent's again (a populated v2 cgroup refuses an empty cpuset.cpus)
      expect(await cat(`${cg}/live/cpuset.cpus.effective`)).toBe(await cat(`${cg}/cpuset.cpus.effective`));
      expect(await alive(pid)).toBe(true);
      expect(await cat(`${cg}/live/cgroup.procs`)).toBe(String(pid));
      expect(await L.diff("", { ...next, path: "live" }, next)).toEqual({ changes: false });

      // v2's "no internal processes" rule: no child below a node that holds processes, said clearly
      const kid = (await L.check({}, { host: host(), name: "kid", parent: "live", limits: {} })).inputs!;
      await expect(L.create(kid)).rejects.toThrow(
        /live holds 1 process\(es\) \(pids \d+\); cgroup v2 allows child cgroups only below a node without processes/,
      );
      expect((await sshRun(`test -d ${cg}/live/kid`)).exitCode).not.toBe(0);

      // delete with a process inside: a clear error by default, then cgroup.kill on request
      await expect(L.delete("", next)).rejects.toThrow(/live still has 1 process\(es\) \(pids \d+\).*onDeleteWithProcesses/);
      const t = transport();
      const writes: string[] = [];
      const writeFile = t.writeFile.bind(t);
      t.writeFile = (path, data) => (writes.push(path), writeFile(path, data));
      try {
        await L.delete("", { ...next, onDeleteWithProcesses: "kill" });
      } finally {
        t.writeFile = writeFile;
      }
      expect(writes).toContain(`${cg}/live/cgroup.kill`);
      await sleep(100);
      expect(await alive(pid)).toBe(false);
      expect((await sshRun(`test -d ${cg}/live`)).exitCode).not.toBe(0);
    });

    it("kills by freezing with cgroup.freeze where the kernel has no cgroup.kill (before 5.14)", async () => {
      const inputs = await makeLimits({ name: "old", limits: {} });
      // two shells that fork all the time: only a frozen cgroup can be emptied in one pass
      await ok(
        `for i in 1 2; do setsid sh -c 'echo $$ > ${cg}/old/cgroup.procs && exec sh -c "while :; do sleep 1 & wait; done"' </dev/null >/dev/null 2>&1 & done`,
      );
      await sleep(500);
      expect((await cat(`${cg}/old/cgroup.procs`)).split("\n").length).toBeGreaterThanOrEqual(2);
      const h = await hostContext({ connection: parsed(), prefix });
      const older = new CgroupDriver(h.t, { ...h.facts, features: h.facts.features.filter((f) => f !== "cgroup-kill") }, prefix);
      const writes: string[] = [];
      const writeFile = h.t.writeFile.bind(h.t);
      h.t.writeFile = (path, data) => (writes.push(`${path}=${data}`), writeFile(path, data));
      try {
        await older.kill("old");
      } finally {
        h.t.writeFile = writeFile;
      }
      expect(writes).toEqual([`${cg}/old/cgroup.freeze=1`, `${cg}/old/cgroup.freeze=0`]);
      expect(await cat(`${cg}/old/cgroup.procs`)).toBe("");
      await L.delete("", inputs);
      expect((await sshRun(`test -d ${cg}/old`)).exitCode).not.toBe(0);
    });

    it("enforces a nested budget: a hog in a child is OOM-killed at the tenant's memory.max", async () => {
      // Without memory.high first: above it the kernel throttles the hog's charges (about a minute
      // here before memory.max is reached). Removing it is a live update back to the default.
      const c = (await L.check({}, { host: host(), name: "tenant", limits: tenantLimits })).inputs!;
      const { high: _high, ...memory } = tenantLimits.memory;
      const noHigh = (await L.check({}, { ...c, limits: { ...tenantLimits, memory } })).inputs!;
      await L.update("", { ...c, path: "tenant" }, noHigh);
      expect(await cat(`${cg}/tenant/memory.high`)).toBe("max");
      expect(await cat(`${cg}/tenant/memory.max`)).toBe(String(64 * MiB));

      const child = await makeLimits({ name: "child", parent: "tenant", limits: {} });
      expect(child.parent).toBe("tenant");
      expect(await cat(`${cg}/tenant/cgroup.subtree_control`)).toMatch(/memory/);
      const oomKills = async () => Number(/^oom_kill (\d+)$/m.exec(await cat(`${cg}/tenant/memory.events`))![1]);
      const before = await oomKills();
      const r = await sshRun(
        `sh -c 'echo $$ > ${cg}/tenant/child/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=200M count=1' 2>/dev/null; echo "rc=$?"`,
      );
      expect(r.stdout.trim()).toBe("rc=137"); // SIGKILL by the OOM killer
      expect(await oomKills()).toBeGreaterThanOrEqual(before + 1);
      expect(Number(/^oom_kill (\d+)$/m.exec(await cat(`${cg}/tenant/child/memory.events`))![1])).toBeGreaterThanOrEqual(1);
    });

    it("rejects at check a child limit above its parent's, as the kernel reports the parent", async () => {
      const r = await L.check({}, { host: host(), name: "big", parent: "tenant", limits: { memory: { max: "1Gi" }, pids: { max: 500 }, cpu: { max: 1 } } });
      expect(r.failures).toEqual([
        { property: "limits.memory.max", reason: expect.stringContaining("got 1Gi, above the parent tenant's 64Mi") },
        { property: "limits.pids.max", reason: expect.stringContaining("got 500, above the parent tenant's 50") },
        { property: "limits.cpu.max", reason: expect.stringContaining("got 1 cores, above the parent tenant's 0.5 cores") },
      ]);
      // within the parent's budget, and memory.high (v2 only) is fine
      const fits = await L.check({}, { host: host(), name: "small", parent: "tenant", limits: { memory: { max: "32Mi", high: "24Mi" }, pids: { max: 10 } } });
      expect(fits.failures).toBeUndefined();
    });
  });

  describe("Containers with crun on cgroup v2", () => {
    const boxArgs = {
      name: "box",
      command: ["sh", "-c", "echo started; exec sleep 600"],
      limits: { memory: { max: "48Mi", high: "40Mi" }, pids: { max: 24 }, cpu: { weight: 50, max: 0.5 } },
      reportUsage: true,
    };
    let box: { inputs: Props; outs: Props };

    it("creates a running busybox container whose v2 cgroup files hold its limits", async () => {
      box = await makeContainer(boxArgs);
      expect(box.outs).toMatchObject({ status: "running", runtime: "crun", cgroupPath: "box" });
      const pid = box.outs.pid as number;
      expect(pid).toBeGreaterThan(1);
      expect(await alive(pid)).toBe(true);
      expect(await cat(`/proc/${pid}/cgroup`)).toBe(`0::/${prefix}/box`);
      expect(await cat(`${cg}/box/memory.max`)).toBe(String(48 * MiB));
      expect(await cat(`${cg}/box/memory.high`)).toBe(String(40 * MiB));
      expect(await cat(`${cg}/box/pids.max`)).toBe("24");
      expect(await cat(`${cg}/box/cpu.weight`)).toBe("50");
      expect(await cat(`${cg}/box/cpu.max`)).toBe("50000 100000");
      // inside, its own cgroup namespace shows it its limit at the root of /sys/fs/cgroup
      const inside = await exec("box", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max");
      expect(inside.stdout.trim().split("\n")).toEqual(["0::/", String(48 * MiB)]);
      expect(box.outs.usage).toMatchObject({ pidsCurrent: 1, oomKills: 0 });
      expect((box.outs.usage as { memoryCurrentBytes: number }).memoryCurrentBytes).toBeGreaterThan(0);
      expect(await cat(box.outs.logPath as string)).toContain("started");
    });

    it("finds drift (a limit changed by hand, the container killed) and update repairs it", async () => {
      const c = box.inputs;
      let outs = box.outs;
      expect(await C.diff("", outs, c)).toEqual({ changes: false });

      // a limit changed by hand: repaired live, the init keeps its pid
      await ok(`echo 99 > ${cg}/box/pids.max`);
      expect(await C.diff("", outs, c)).toEqual({ changes: true });
      expect((await C.read("", outs)).props!.limits).toEqual({ ...boxArgs.limits, pids: { max: 99 } });
      outs = (await C.update("", outs, c)).outs!;
      expect(await cat(`${cg}/box/pids.max`)).toBe("24");
      expect(outs.pid).toBe(box.outs.pid);
      expect(await C.diff("", outs, c)).toEqual({ changes: false });

      // killed behind kslice's back: read shows it stopped; update starts it again with its limits
      await ok(`crun --root ${runtimeRoot} kill box KILL`);
      await sleep(500);
      expect(await C.diff("", outs, c)).toEqual({ changes: true });
      expect((await C.read("", outs)).props!.state).toBe("stopped");
      outs = (await C.update("", outs, c)).outs!;
      expect(outs.status).toBe("running");
      expect(outs.pid).not.toBe(box.outs.pid);
      expect(await cat(`${cg}/box/pids.max`)).toBe("24");
      expect(await cat(`${cg}/box/memory.max`)).toBe(String(48 * MiB));
      expect(await C.diff("", outs, c)).toEqual({ changes: false });
      box = { inputs: c, outs };
    });

    it("is isolated: cannot mount, cannot write /proc/sys or its cgroup, sees only its own processes", async () => {
      const m = await exec("box", "mkdir -p /mnt && mount -t tmpfs none /mnt");
      expect(m.exitCode).not.toBe(0);
      expect(m.stdout).toMatch(/permission denied|not permitted/i);
      const sys = await exec("box", "echo 1 > /proc/sys/kernel/domainname");
      expect(sys.exitCode).not.toBe(0);
      expect(sys.stdout).toMatch(/read-only/i);
      expect((await exec("box", "echo max > /sys/fs/cgroup/pids.max")).exitCode).not.toBe(0);
      expect(await cat(`${cg}/box/pids.max`)).toBe("24");
      const ps = await exec("box", "ls -d /proc/[0-9]* | wc -l; tr '\\0' ' ' < /proc/1/cmdline");
      const [count, init] = ps.stdout.trim().split("\n");
      expect(Number(count)).toBeLessThanOrEqual(4); // init, sh, ls, wc
      expect(init!.trim()).toBe("sleep 600"); // the init's sh exec'd its sleep
    });

    it("stops a fork bomb at pids.max", async () => {
      expect(Number(/^max (\d+)$/m.exec(await cat(`${cg}/box/pids.events`))![1])).toBe(0);
      // the shell gives up at the first refused fork; what counts is what the kernel allowed
      await exec("box", "i=0; while [ $i -lt 60 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done");
      expect(Number(await cat(`${cg}/box/pids.current`))).toBeLessThanOrEqual(24);
      expect(Number(/^max (\d+)$/m.exec(await cat(`${cg}/box/pids.events`))![1])).toBeGreaterThan(0);
      expect(await alive(box.outs.pid as number)).toBe(true);
    });

    it("limits a container's disk with crun: a write past it fails, df shows it, a grow is live, delete leaves no loop device", async () => {
      // the guest has what the method needs (loop devices, e2fsprogs): check's own probe says nothing is missing
      expect((await ok(hostDiskScript())).trim()).toBe("");
      const d = await makeContainer({ name: "quota", command: ["sleep", "600"], disk: { max: "32Mi", inodes: 1000 } });
      const df = (await exec("quota", "df -k / | tail -n1")).stdout.trim().split(/\s+/);
      expect(Number(df[1])).toBeGreaterThan(24 * 1024);
      expect(Number(df[1])).toBeLessThanOrEqual(32 * 1024);
      const w = await exec("quota", "dd if=/dev/zero of=/big bs=1M count=64; echo rc=$?");
      expect(w.stdout).toMatch(/No space left on device/);
      expect(w.stdout).not.toMatch(/rc=0/);
      // the sparse image holds no more than the limit on the guest's disk
      expect(Number(await ok(`echo $(($(stat -c '%b * %B' /var/lib/${prefix}/containers/quota/disk.img)))`))).toBeLessThanOrEqual(32 * MiB);
      // root here holds CAP_SYS_RESOURCE: resize2fs online, the same init
      const grown = { ...d.inputs, disk: { max: "64Mi", inodes: 1000 } };
      const g = (await C.update("", d.outs, grown)).outs!;
      expect(g.pid).toBe(d.outs.pid);
      expect(Number((await exec("quota", "df -k / | tail -n1")).stdout.trim().split(/\s+/)[1])).toBeGreaterThan(48 * 1024);
      expect(await C.diff("", g, grown)).toEqual({ changes: false });
      await C.delete("", g);
      expect((await ok(`losetup -nl -O BACK-FILE | grep -F /var/lib/${prefix}/ || true`)).trim()).toBe("");
    });

    it("diffs several containers of the host in a few SSH commands", async () => {
      const webs = [box];
      for (const name of ["web-a", "web-b"]) {
        webs.push(await makeContainer({ name, parent: "tenant", command: ["sleep", "600"], limits: { pids: { max: 8 }, memory: { max: "16Mi" } } }));
      }
      expect(await cat(`/proc/${webs[1]!.outs.pid as number}/cgroup`)).toBe(`0::/${prefix}/tenant/web-a`);
      const t = transport();
      const run = t.run.bind(t);
      let commands = 0;
      t.run = (argv, opts) => (commands++, run(argv, opts));
      try {
        forgetReads(); // a fresh read, as a new engine run would make: no cached snapshot or tree counts
        const one = await C.diff("", webs[0]!.outs, webs[0]!.inputs);
        const forOne = commands;
        forgetReads();
        commands = 0;
        const all = await Promise.all(webs.map((w) => C.diff("", w.outs, w.inputs)));
        console.log(`[v2] ssh commands: one container's diff ${forOne}, three containers' diffs at once ${commands}`);
        expect(one).toEqual({ changes: false });
        expect(all).toEqual(webs.map(() => ({ changes: false })));
        // one runtime list, then batched reads: the same as for one, not three times as many
        expect(commands).toBeLessThanOrEqual(forOne + 1);
        expect(commands).toBeLessThanOrEqual(5);
      } finally {
        t.run = run;
      }
    });
  });

  describe("networks over SSH", () => {
    const serve = ["sh", "-c", "mkdir -p /www && echo hello-lab > /www/index.html && exec httpd -f -p 80 -h /www"];
    const port = { hostPort: 18951, containerPort: 80, hostAddress: "127.0.0.1" };
    let net: Props;
    let web: { inputs: Props; outs: Props };

    it("makes a bridge with NAT; two containers reach each other; a published port answers on the VM's 127.0.0.1", async () => {
      const c = await N.check({}, { host: host(), name: "lan", subnet: "10.233.0.0/24", nat: true });
      expect(c.failures).toBeUndefined();
      net = (await N.create(c.inputs!)).outs!;
      expect(await ok(`ip -o -4 addr show dev ${net.bridge}`)).toContain("10.233.0.1/24");
      expect(await ok(`nft list table ip ${prefix}`)).toContain("masquerade");
      web = await makeContainer({ name: "n-web", command: serve, networks: [{ network: "lan" }], ports: [port] });
      await makeContainer({ name: "n-client", command: ["sleep", "600"], networks: [{ network: "lan", address: "10.233.0.77" }] });
      expect(web.outs.address).toBe("10.233.0.2");
      expect((await exec("n-client", "timeout 5 wget -q -O - http://10.233.0.2/")).stdout).toContain("hello-lab");
      expect((await exec("n-client", "cat /etc/hosts")).stdout).toContain("10.233.0.77\tn-client");
      expect(await ok(`timeout 5 busybox wget -q -O - http://127.0.0.1:${port.hostPort}/`)).toContain("hello-lab");
    });

    it("finds a flushed rule and a removed address, and repairs both live", async () => {
      forgetReads();
      let outs = (await C.read("", { ...web.inputs, pid: 0 })).props!;
      expect(await C.diff("", outs, web.inputs)).toEqual({ changes: false });
      await ok(`nft flush chain ip ${prefix} ports; nsenter --net=/proc/${outs.pid}/ns/net ip addr flush dev eth0`);
      expect(await C.diff("", outs, web.inputs)).toEqual({ changes: true });
      const seen = (await C.read("", outs)).props!;
      expect(seen.networks).toEqual([]);
      outs = (await C.update("", seen, web.inputs)).outs!;
      expect(outs.pid).toBe(web.outs.pid);
      forgetReads();
      expect(await C.diff("", outs, web.inputs)).toEqual({ changes: false });
      expect(await ok(`timeout 5 busybox wget -q -O - http://127.0.0.1:${port.hostPort}/`)).toContain("hello-lab");
    });

    it("gives a container its /etc/hostname and sysctls of its own namespaces with crun, the VM's unchanged; a value changed by hand is repaired live", async () => {
      const sysctls = { "net.core.somaxconn": "1024", "kernel.shmmax": "1073741824" };
      const hostBefore = await ok("cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmax");
      const sys = await makeContainer({ name: "n-sys", command: ["sleep", "600"], hostname: "sys1", networks: [{ network: "lan" }], sysctls });
      expect((await exec("n-sys", "cat /etc/hostname; cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmax")).stdout).toBe("sys1\n1024\n1073741824\n");
      expect((await exec("n-sys", "cat /etc/hosts")).stdout).toContain(`${sys.outs.address as string}\tsys1\n`);
      // the control: the VM's own values differ from the container's, and stay
      expect(hostBefore).not.toBe("1024\n1073741824\n");
      expect(await ok("cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmax")).toBe(hostBefore);
      expect(await C.diff("", sys.outs, sys.inputs)).toEqual({ changes: false });
      await ok(`nsenter --target ${sys.outs.pid as number} --net sh -c 'echo 999 > /proc/sys/net/core/somaxconn'`);
      expect(await C.diff("", sys.outs, sys.inputs)).toEqual({ changes: true });
      const outs = (await C.update("", sys.outs, sys.inputs)).outs!;
      expect(outs.pid).toBe(sys.outs.pid);
      expect((await exec("n-sys", "cat /proc/sys/net/core/somaxconn")).stdout).toBe("1024\n");
      const refused = await C.check({}, { host: host(), name: "n-bad", command: ["true"], sysctls: { "vm.swappiness": "1" } });
      expect(refused.failures).toEqual([{ property: "sysctls.vm.swappiness", reason: expect.stringContaining("not namespaced: it would change the host") }]);
      await C.delete("", outs);
    });

    it("deletes the containers and the network: no veth, rule or bridge is left", async () => {
      for (const name of ["n-web", "n-client"])
        await C.delete("", { host: host(), name, command: ["true"], networks: [{ network: "lan" }], ports: name === "n-web" ? [port] : [] });
      await N.delete("", net);
      expect((await ok(`grep -l '^${prefix}/' /sys/class/net/*/ifalias 2>/dev/null; nft list tables; true`)).trim()).not.toContain(prefix);
    });
  });

  it("gives a 64Mi, 0.5-CPU container its own /proc with crun on cgroup v2 (lxcfs as the unit <prefix>-lxcfs.service); lxcfs killed, the next up restarts it", async () => {
    const view = await makeContainer({ name: "p-view", command: ["sleep", "600"], limits: { memory: { max: "64Mi" }, cpu: { max: 0.5 } } });
    const script = "grep MemTotal /proc/meminfo; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online; cut -d' ' -f1 /proc/uptime";
    const lines = (await exec("p-view", script)).stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^MemTotal:\s+65536 kB$/);
    expect(lines.slice(1, 3)).toEqual(["1", "0"]);
    expect(Number(lines[3])).toBeLessThan(60);
    // the control: the VM's own values (512 MiB, 2 CPUs)
    expect(await ok("grep MemTotal /proc/meminfo")).not.toMatch(/\s65536 kB/);
    expect((await ok("grep -c ^processor /proc/cpuinfo")).trim()).toBe("2");
    expect((await ok(`systemctl is-active ${prefix}-lxcfs.service`)).trim()).toBe("active");
    const lxcfs = `for p in $(pgrep -x lxcfs); do tr '\\0' ' ' < /proc/$p/cmdline | grep -q ' /run/${prefix}/lxcfs $' && echo $p; done; true`;
    const before = (await ok(lxcfs)).trim();
    expect(before).toMatch(/^\d+$/);
    await ok(`kill -9 ${before}`);
    let after = "";
    for (let i = 0; i < 30 && (after === "" || after === before); i++) {
      await sleep(500);
      after = (await ok(lxcfs)).trim();
    }
    expect(after).toMatch(/^\d+$/);
    expect(after).not.toBe(before);
    expect((await exec("p-view", "cat /proc/uptime")).stdout).toMatch(/Transport endpoint is not connected/);
    forgetReads();
    expect((await C.diff("", view.outs, view.inputs)).changes).toBe(true);
    const outs = (await C.update("", view.outs, view.inputs)).outs!;
    expect(outs.pid).not.toBe(view.outs.pid);
    expect((await exec("p-view", "grep MemTotal /proc/meminfo")).stdout).toMatch(/\s65536 kB/);
    forgetReads();
    expect(await C.diff("", outs, view.inputs)).toEqual({ changes: false });
    await C.delete("", outs);
  });

  it("deletes everything, and leaves nothing named after the prefix on the host", async () => {
    for (const name of ["web-a", "web-b"]) await C.delete("", { host: host(), name, parent: "tenant", command: ["sleep", "600"] });
    await C.delete("", { host: host(), name: "box", command: ["sleep", "600"] });
    expect((await ok(`ls -A /var/lib/${prefix}/containers`)).trim()).toBe("");
    await L.delete("", { host: host(), name: "child", parent: "tenant" });
    await L.delete("", { host: host(), name: "tenant" });
    await hostLifecycle.delete("", { ...host(), runtime: "auto" });
    await sleep(1500); // the supervisor notices its last container is gone within its 1 s interval
    // The prefix is spelt in two quoted halves, so this very command line does not match itself.
    const half = Math.floor(prefix.length / 2);
    const leaks = await ok(
      [
        `P='${prefix.slice(0, half)}''${prefix.slice(half)}'`,
        `find /sys/fs/cgroup /run /var/lib -name "*$P*" 2>/dev/null`,
        `grep -F "$P" /proc/mounts`,
        `grep -l "^$P" /sys/class/net/*/ifalias 2>/dev/null`,
        `nft list tables 2>/dev/null | grep -F "$P"`,
        `for d in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); case $c in *"$P"*) echo "process \${d#/proc/}: $c";; esac; done`,
        `true`,
      ].join("\n"),
    );
    expect(leaks).toBe("");
  });
});
