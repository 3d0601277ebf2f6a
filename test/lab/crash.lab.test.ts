// A power loss right after kslice reports success (issue 31): on a cgroup v2 lab VM with systemd,
// the guest is crashed with sysrq "b" (an immediate reboot: no sync, no unmount, the guest's page
// cache lost) the moment a create, and then an update, returns, with no pause. With no kslice code
// run after the crash, the boot unit must bring back what kslice had reported: the running
// container with its address, its published port and (after the update) its data and new limits,
// the stopped one stopped; every record non-empty; and diff through the lifecycles must find no
// changes. Without the sync at the end of each operation (durable.ts) the records are empty after
// such a crash (ext4's delayed allocation), and this file fails. The same holds for a migration's
// last step: the target crashed the moment the move returned keeps the container, its data and
// records, while the source has already let its copy go.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { lifecycles } from "../../provider/reconcile/lifecycles";
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

const prefix = `${testPrefix}-cr`;
const runtimeRoot = `/run/${prefix}/runtime`;
const unit = `${prefix}-boot.service`;
const bundle = (name: string) => `/var/lib/${prefix}/containers/${name}`;
const port = { hostPort: 18961, containerPort: 80, hostAddress: "127.0.0.1" };
const serve = ["sh", "-c", "mkdir -p /www && echo hello-lab > /www/index.html && exec httpd -f -p 80 -h /www"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a power loss right after kslice reports success", () => {
  // crashes its guests; the second is a migration's target
  const lab = useLab(2, { own: true, bootTimeoutMs: 300_000 });
  const vm = (): LabHost => lab().hosts[0]!;
  const vm2 = (): LabHost => lab().hosts[1]!;
  const host = (h = vm()) => ({ connection: sshConnection(h), prefix });
  // the test's own view of a VM: plain OpenSSH, no multiplexing (the crash cuts every connection)
  const sshRun = (command: string, timeoutMs = 120_000, h = vm()): Promise<CommandResult> =>
    run("ssh", [...sshOptions(h.ssh), h.ssh.host, "--", command], { timeoutMs, allowFailure: true }).catch((e: Error) => ({
      exitCode: -1,
      stdout: "",
      stderr: e.message,
    }));
  async function ok(command: string, h = vm()): Promise<string> {
    const r = await sshRun(command, 120_000, h);
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }
  const exec = (name: string, script: string, h = vm()) => sshRun(`crun --root ${runtimeRoot} exec ${name} sh -c ${q(script)} 2>&1`, 120_000, h);
  const status = async (name: string, h = vm()) =>
    (
      await sshRun(`crun --root ${runtimeRoot} state ${name} 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"'`, 120_000, h)
    ).stdout.trim() || "missing";

  let net: { inputs: Props; outs: Props };
  let web: { inputs: Props; outs: Props };
  let idle: { inputs: Props; outs: Props };
  let mover: { inputs: Props; outs: Props } | undefined;
  let hostsMade = 0;
  async function make(kind: typeof C | typeof N, args: Props, h = vm()): Promise<{ inputs: Props; outs: Props }> {
    const c = await kind.check({}, { host: host(h), ...args });
    expect(c.failures).toBeUndefined();
    const r = await kind.create(c.inputs!);
    return { inputs: c.inputs!, outs: r.outs! };
  }
  async function update(was: { inputs: Props; outs: Props }, args: Props): Promise<{ inputs: Props; outs: Props }> {
    const c = await C.check(was.inputs, { ...was.inputs, ...args });
    expect(c.failures).toBeUndefined();
    return { inputs: c.inputs!, outs: (await C.update("", was.outs, c.inputs!)).outs! };
  }

  /**
   * An SSH session already logged in and waiting for one line on its stdin to crash the guest, so
   * that the crash follows the operation's success by one write on an open channel, not by an SSH
   * handshake (seconds under TCG). fire() crashes, then waits until the guest has booted again and
   * its boot unit has run; nothing is written in the guest in between (the boot id tells the boot).
   */
  async function armCrash(h = vm()): Promise<{ fire: () => Promise<void> }> {
    const bootId = (await ok("cat /proc/sys/kernel/random/boot_id", h)).trim();
    const child = spawn("ssh", [...sshOptions(h.ssh), h.ssh.host, "--", "echo armed; read go && echo b > /proc/sysrq-trigger"], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    sessions.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the crash session did not log in within 60 s")), 60_000);
      child.stdout!.on("data", (d: Buffer) => {
        if (d.toString().includes("armed")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", () => reject(new Error("the crash session ended before it was armed")));
    });
    return {
      fire: async () => {
        child.stdin!.write("go\n");
        // the session hangs with the guest: cut it once the crash had time to happen
        await sleep(3000);
        child.kill("SIGKILL");
        await waitForBoot(bootId, h);
      },
    };
  }

  async function waitForBoot(bootId: string, h: LabHost): Promise<void> {
    let back = false;
    for (const end = Date.now() + 240_000; !back && Date.now() < end;) {
      await sleep(3000);
      const r = await sshRun("cat /proc/sys/kernel/random/boot_id", 20_000, h);
      back = r.exitCode === 0 && r.stdout.trim() !== "" && r.stdout.trim() !== bootId;
    }
    expect(back).toBe(true);
    // the unit is a oneshot: wait (bounded) until it has run, then it must have succeeded
    let done = false;
    for (const end = Date.now() + 180_000; !done && Date.now() < end; await sleep(2000)) {
      const t = (await sshRun(`systemctl show -P ExecMainExitTimestampMonotonic ${unit}`, 120_000, h)).stdout.trim();
      done = t !== "" && t !== "0";
    }
    expect(done).toBe(true);
    expect((await ok(`systemctl show -P Result ${unit}`, h)).trim(), await ok(`journalctl -b -u ${unit} --no-pager | tail -n 20`, h)).toBe("success");
    forgetReads();
  }

  /** Every record the running container's start reads, with its size: none may be empty. */
  const recordSizes = (name: string, h = vm()) => ok(`cd ${bundle(name)} && stat -c '%n %s' kslice.json config.json start.sh net.sh`, h);

  /** Crash sessions, killed at the end whatever happened (a failed operation leaves one waiting). */
  const sessions: ChildProcess[] = [];

  afterAll(async () => {
    for (const s of sessions) s.kill("SIGKILL");
    try {
      vm();
    } catch {
      return; // the lab did not boot: nothing was made
    }
    try {
      for (const c of [web, idle]) if (c) await C.delete("", c.outs).catch(() => undefined);
      if (mover) await lifecycles.container!.delete("", mover.outs).catch(() => undefined);
      if (net) await N.delete("", net.outs).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
      if (hostsMade > 1) await hostLifecycle.delete("", { ...host(vm2()), runtime: "auto" }).catch(() => undefined);
    } finally {
      await closeAllTransports();
    }
  });

  it("crashed right after the creates returned: the running container is back with its address and port, the stopped one stays stopped, diff finds nothing", async () => {
    const h = await hostLifecycle.check({}, host());
    const crash = await armCrash();
    await hostLifecycle.create(h.inputs!);
    net = await make(N, { name: "lan", subnet: "10.235.0.0/24", nat: true });
    idle = await make(C, { name: "idle", command: ["sleep", "infinity"], networks: [{ network: "lan" }], state: "stopped", stopGraceSeconds: 1 });
    web = await make(C, {
      name: "web",
      command: serve,
      networks: [{ network: "lan", address: "10.235.0.10" }],
      ports: [port],
      limits: { memory: { max: "128Mi" } },
      stopGraceSeconds: 1,
    });
    await crash.fire();
    expect(web.outs).toMatchObject({ status: "running", address: "10.235.0.10" });

    expect(await recordSizes("web")).not.toMatch(/ 0$/m);
    expect(await status("web")).toBe("running");
    expect((await exec("web", "ip -o -4 addr show dev eth0")).stdout).toContain("10.235.0.10/24");
    expect(await ok(`timeout 5 busybox wget -q -O - http://127.0.0.1:${port.hostPort}/`)).toContain("hello-lab");
    expect(await status("idle")).toBe("missing");
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    const read = (await C.read("", web.outs)).props!;
    expect(read).toMatchObject({ status: "running", address: "10.235.0.10" });
    expect(await C.diff("", read, web.inputs)).toEqual({ changes: false });
    web.outs = read;
    const idleRead = (await C.read("", idle.outs)).props!;
    expect(idleRead).toMatchObject({ status: "stopped", address: idle.outs.address });
    expect(await C.diff("", idleRead, idle.inputs)).toEqual({ changes: false });
  });

  it("crashed right after updates returned (new limits, the stopped one started): both running, with the data the container synced and the new limits", async () => {
    // 8 MiB the container writes and syncs itself: kslice's part is to lose none of it
    const sum = (await exec("web", "dd if=/dev/urandom of=/data.bin bs=1M count=8 2>/dev/null && sync && md5sum /data.bin")).stdout.trim();
    expect(sum).toMatch(/^[0-9a-f]{32} /);
    const crash = await armCrash();
    web = await update(web, { limits: { memory: { max: "96Mi" } }, restartPolicy: "always" });
    idle = await update(idle, { state: "running" });
    await crash.fire();
    expect(idle.outs).toMatchObject({ status: "running" });

    expect(await recordSizes("web")).not.toMatch(/ 0$/m);
    expect(await recordSizes("idle")).not.toMatch(/ 0$/m);
    expect(await status("web")).toBe("running");
    expect(await status("idle")).toBe("running");
    expect((await exec("web", "md5sum /data.bin")).stdout.trim()).toBe(sum);
    // written by start.sh at boot: the update's start.sh is the one on disk
    expect((await ok(`cat /sys/fs/cgroup/${prefix}/web/memory.max`)).trim()).toBe(String(96 * 2 ** 20));
    expect((await ok(`cat ${bundle("web")}/restart`)).trim()).toBe("always");
    expect(await ok(`timeout 5 busybox wget -q -O - http://127.0.0.1:${port.hostPort}/`)).toContain("hello-lab");
    for (const c of [web, idle]) {
      const read = (await C.read("", c.outs)).props!;
      expect(await C.diff("", read, c.inputs)).toEqual({ changes: false });
      c.outs = read;
    }
  });

  it("crashed right after a migration returned: the container runs on the target with its data and records, nothing of it is left on the source", async () => {
    const M = lifecycles.container!;
    const h2 = await hostLifecycle.check({}, host(vm2()));
    await hostLifecycle.create(h2.inputs!);
    hostsMade = 2;
    const args = { name: "mover", command: ["sleep", "infinity"], limits: { memory: { max: "64Mi" } }, stopGraceSeconds: 1 };
    const c = await M.check({}, { host: host(), ...args });
    expect(c.failures).toBeUndefined();
    mover = { inputs: c.inputs!, outs: (await M.create(c.inputs!)).outs! };
    const sum = (await exec("mover", "dd if=/dev/urandom of=/moved.bin bs=1M count=4 2>/dev/null && sync && md5sum /moved.bin")).stdout.trim();
    expect(sum).toMatch(/^[0-9a-f]{32} /);

    const moved = await M.check(mover.inputs, { ...mover.inputs, host: host(vm2()) });
    expect(moved.failures).toBeUndefined();
    expect(await M.diff("", mover.outs, moved.inputs!)).toMatchObject({ changes: true });
    const crash = await armCrash(vm2());
    mover = { inputs: moved.inputs!, outs: (await M.update("", mover.outs, moved.inputs!)).outs! };
    await crash.fire();
    expect(mover.outs).toMatchObject({ status: "running", lastMigration: { mode: "cold" } });

    expect(await recordSizes("mover", vm2())).not.toMatch(/ 0$/m);
    expect(await status("mover", vm2())).toBe("running");
    expect((await exec("mover", "md5sum /moved.bin", vm2())).stdout.trim()).toBe(sum);
    expect((await ok(`cat /sys/fs/cgroup/${prefix}/mover/memory.max`, vm2())).trim()).toBe(String(64 * 2 ** 20));
    // the source let its copy go when the move returned: nothing of mover there
    expect(await status("mover")).toBe("missing");
    expect(await ok(`ls /var/lib/${prefix}/containers; ls -d /sys/fs/cgroup/${prefix}/mover 2>/dev/null; true`)).not.toMatch(/mover/);
    const read = (await M.read("", mover.outs)).props!;
    expect(read).toMatchObject({ status: "running" });
    expect(await M.diff("", read, mover.inputs)).toMatchObject({ changes: false });
    mover.outs = read;
  });

  it("deletes everything: nothing named after the prefix is left, boot unit included", async () => {
    await C.delete("", web.outs);
    await C.delete("", idle.outs);
    await lifecycles.container!.delete("", mover!.outs);
    await N.delete("", net.outs);
    await hostLifecycle.delete("", { ...host(), runtime: "auto" });
    await hostLifecycle.delete("", { ...host(vm2()), runtime: "auto" });
    expect(await leftOn(vm2())).toBe("");
    expect(await leftOn(vm())).toBe("");
  });

  /** Anything named after the prefix on a guest: cgroups, runtime and host records, mounts, interfaces, nftables, units. */
  async function leftOn(h: LabHost): Promise<string> {
    const half = Math.floor(prefix.length / 2);
    return ok(
      [
        `P='${prefix.slice(0, half)}''${prefix.slice(half)}'`,
        `find /sys/fs/cgroup /run /var/lib /etc/systemd -name "*$P*" 2>/dev/null`,
        `grep -F "$P" /proc/mounts`,
        `grep -l "^$P" /sys/class/net/*/ifalias 2>/dev/null`,
        `nft list tables 2>/dev/null | grep -F "$P"`,
        `systemctl list-units --all --no-legend 2>/dev/null | grep -F "$P"`,
        `true`,
      ].join("\n"),
      h,
    );
  }
});
