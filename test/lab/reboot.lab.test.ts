// A host reboot (issue 11): on a cgroup v2 lab VM with systemd, a running container on a network
// and a stopped one are made through the lifecycles over SSH, data is written into the running
// one's writable layer (a disk image: `disk.max` 64Mi), and the VM is rebooted from inside. With no
// kslice code called, the prefix's boot unit brings back the network and the running container (its
// data, its address, its disk image mounted before it starts: `df /` shows the limit, a write past
// it fails with ENOSPC);
// the stopped one stays stopped; then diff says no changes, and deleting everything leaves
// nothing, boot unit included.
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import { forgetReads } from "../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../provider/reconcile/network";
import type { Props } from "../../provider/reconcile/provider-types";
import { closeAllTransports } from "../../provider/transport/open";
import { shellQuote as q } from "../../provider/transport/transport";
import { sshConnection, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { run, type CommandResult } from "./exec";
import { sshOptions } from "./ssh";

const prefix = `${testPrefix}-rb`;
const runtimeRoot = `/run/${prefix}/runtime`;
const unit = `${prefix}-boot.service`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The size column of `df -k /`'s data line, in KiB (NaN when there is none). */
const dfSizeKiB = (out: string) => Number(out.trim().split("\n").pop()?.trim().split(/\s+/)[1]);

describe("a host reboot: containers declared running come back by themselves", () => {
  // the build machine is shared: give a slow TCG boot room
  const lab = useLab(1, { own: true, bootTimeoutMs: 300_000 }); // reboots its guest
  const vm = (): LabHost => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  // the test's own view of the VM: plain OpenSSH, no multiplexing (the reboot would cut a master)
  const sshRun = (command: string, timeoutMs = 120_000): Promise<CommandResult> =>
    run("ssh", [...sshOptions(vm().ssh), vm().ssh.host, "--", command], { timeoutMs, allowFailure: true }).catch((e: Error) => ({
      exitCode: -1,
      stdout: "",
      stderr: e.message,
    }));
  async function ok(command: string): Promise<string> {
    const r = await sshRun(command);
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }
  const exec = (name: string, script: string) => sshRun(`crun --root ${runtimeRoot} exec ${name} sh -c ${q(script)} 2>&1`);
  const status = async (name: string) =>
    (await sshRun(`crun --root ${runtimeRoot} state ${name} 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"'`)).stdout.trim() ||
    "missing";

  let net: { inputs: Props; outs: Props };
  let keep: { inputs: Props; outs: Props };
  let idle: { inputs: Props; outs: Props };
  async function make(kind: typeof C | typeof N, args: Props): Promise<{ inputs: Props; outs: Props }> {
    const c = await kind.check({}, { host: host(), ...args });
    expect(c.failures).toBeUndefined();
    const r = await kind.create(c.inputs!);
    return { inputs: c.inputs!, outs: r.outs! };
  }

  afterAll(async () => {
    try {
      vm();
    } catch {
      return; // the lab did not boot: nothing was made
    }
    try {
      for (const c of [keep, idle]) if (c) await C.delete("", c.outs).catch(() => undefined);
      if (net) await N.delete("", net.outs).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
    } finally {
      await closeAllTransports();
    }
  });

  it("makes a container on a dual-stack network with data in its writable layer, and a stopped one; the boot unit is enabled", async () => {
    const h = await hostLifecycle.check({}, host());
    await hostLifecycle.create(h.inputs!);
    net = await make(N, { name: "lan", subnet: "10.234.0.0/24", subnet6: "fd34:0:0:1::/64", nat: true });
    keep = await make(C, {
      name: "keep",
      command: ["sleep", "infinity"],
      networks: [{ network: "lan", address: "10.234.0.10", address6: "fd34:0:0:1::10" }],
      disk: { max: "64Mi" },
      stopGraceSeconds: 1,
    });
    idle = await make(C, { name: "idle", command: ["sleep", "infinity"], state: "stopped", stopGraceSeconds: 1 });
    expect(keep.outs).toMatchObject({ status: "running", address: "10.234.0.10", address6: "fd34:0:0:1::10" });
    expect((await exec("keep", "echo precious > /data.txt && sync && cat /data.txt")).stdout).toContain("precious");
    // the writable layer is the image: df / inside shows its size (a little below 64 MiB: ext4's tables)
    expect(dfSizeKiB((await exec("keep", "df -k /")).stdout)).toBeLessThanOrEqual(65536);
    expect((await ok(`systemctl is-enabled ${unit}`)).trim()).toBe("enabled");
    expect((await ok(`systemctl is-active ${prefix}-supervisor.service`)).trim()).toBe("active");
  });

  it("after systemctl reboot, with no kslice code run, the running container is back with its data and both addresses; the stopped one is not", async () => {
    // /run is a tmpfs: the mark is gone once the VM has rebooted
    await ok("touch /run/kslice-before-reboot");
    await sshRun("systemctl reboot", 30_000);
    let back = false;
    for (const end = Date.now() + 240_000; !back && Date.now() < end;) {
      await sleep(3000);
      const r = await sshRun("test ! -e /run/kslice-before-reboot && echo rebooted", 20_000);
      back = r.exitCode === 0 && r.stdout.includes("rebooted");
    }
    expect(back).toBe(true);
    // the unit is a oneshot: wait (bounded) until it has run, then it must have succeeded
    let done = false;
    for (const end = Date.now() + 180_000; !done && Date.now() < end; await sleep(2000)) {
      const t = (await sshRun(`systemctl show -P ExecMainExitTimestampMonotonic ${unit}`)).stdout.trim();
      done = t !== "" && t !== "0";
    }
    expect(done).toBe(true);
    expect((await ok(`systemctl show -P Result ${unit}`)).trim()).toBe("success");

    expect(await status("keep")).toBe("running");
    expect((await exec("keep", "cat /data.txt")).stdout).toContain("precious");
    // the image was mounted again (boot.sh, before the start): without it the layer would be an empty
    // directory on the guest's own disk, df / the guest's filesystem and the write below unbounded
    const df = (await exec("keep", "df -k /")).stdout;
    expect(dfSizeKiB(df), df).toBeGreaterThan(32768);
    expect(dfSizeKiB(df), df).toBeLessThanOrEqual(65536);
    const fill = await exec("keep", "dd if=/dev/zero of=/fill bs=1M count=100; echo rc=$?; rm -f /fill");
    expect(fill.stdout).toMatch(/No space left on device/);
    expect(fill.stdout).toMatch(/rc=[1-9]/);
    expect((await exec("keep", "ip -o -4 addr show dev eth0")).stdout).toContain("10.234.0.10/24");
    // anti-spoofing back: the network's ensure.sh made the table and rules, the start its elements
    expect(await ok(`nft list set bridge ${prefix} ip4`)).toMatch(/"ks[0-9a-f]+" \. 10\.234\.0\.10/);
    // IPv6 back too: the address, the gateway on the bridge (answering from inside), forwarding
    // (off again after a boot until ensure.sh turns it on), and its anti-spoofing element
    expect((await exec("keep", "ip -o -6 addr show dev eth0 scope global")).stdout).toContain("fd34:0:0:1::10/64");
    const ping6 = await exec("keep", "ping -6 -c 1 -W 5 fd34:0:0:1::1 >/dev/null && echo reached");
    expect(ping6.stdout, ping6.stdout).toContain("reached");
    expect((await ok("cat /proc/sys/net/ipv6/conf/all/forwarding")).trim()).toBe("1");
    expect(await ok(`nft list set bridge ${prefix} addr6`)).toMatch(/"ks[0-9a-f]+" \. fd34:0:0:1::10/);
    expect(await status("idle")).toBe("missing");
    expect((await ok(`systemctl is-active ${prefix}-supervisor.service`)).trim()).toBe("active");
    // its log writer outlived the boot unit (a oneshot: systemd kills what stays in its cgroup) in
    // the prefix's own cgroup, and what the init writes to its stdout (the pipe) reaches the log
    const b = `/var/lib/${prefix}/containers/keep`;
    const writer = (await ok(`cat ${b}/log.pid`)).trim();
    expect((await ok(`cat /proc/${writer}/cgroup`)).trim()).toBe(`0::/${prefix}-logs`);
    await ok(`echo after-reboot > /proc/$(cat ${b}/init.pid)/fd/1`);
    let logged = "";
    for (const end = Date.now() + 10_000; !logged.includes("after-reboot") && Date.now() < end; await sleep(500)) logged = await ok(`tail -n 2 ${b}/log`);
    expect(logged).toContain("after-reboot");
  });

  it("then diff through the lifecycles says no changes", async () => {
    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    const read = (await C.read("", keep.outs)).props!;
    expect(read).toMatchObject({ status: "running", address: "10.234.0.10", address6: "fd34:0:0:1::10" });
    expect(await C.diff("", read, keep.inputs)).toEqual({ changes: false });
    expect(await C.diff("", (await C.read("", idle.outs)).props!, idle.inputs)).toEqual({ changes: false });
  });

  it("deletes everything: nothing named after the prefix is left, boot unit included", async () => {
    await C.delete("", keep.outs);
    await C.delete("", idle.outs);
    await N.delete("", net.outs);
    await hostLifecycle.delete("", { ...host(), runtime: "auto" });
    const half = Math.floor(prefix.length / 2);
    const leaks = await ok(
      [
        `P='${prefix.slice(0, half)}''${prefix.slice(half)}'`,
        `find /sys/fs/cgroup /run /var/lib /etc/systemd -name "*$P*" 2>/dev/null`,
        `grep -F "$P" /proc/mounts`,
        `grep -l "^$P" /sys/class/net/*/ifalias 2>/dev/null`,
        `nft list tables 2>/dev/null | grep -F "$P"`,
        `systemctl list-units --all --no-legend 2>/dev/null | grep -F "$P"`,
        `for d in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); case $c in *"$P"*) echo "process \${d#/proc/}: $c";; esac; done`,
        `true`,
      ].join("\n"),
    );
    expect(leaks).toBe("");
  });
});
