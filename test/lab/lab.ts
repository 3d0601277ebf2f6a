import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { run } from "./exec";
import { ensureImage, type LabImage } from "./image";
import { createOverlay, identityFiles, spawnQemu, type Accel, type VmSpec } from "./qemu";
import { createRunDir, freePort, killAndWait, sweepRuns } from "./runs";
import { ensureSnapshot, provisionScript, type LabSnapshot } from "./snapshot";
import { keygen, sshRun, waitForSsh, type LabSsh } from "./ssh";

export { ensureImage, labCacheDir, type LabImage } from "./image";
export { sshRun, type LabSsh } from "./ssh";
export { sweepRuns } from "./runs";

/** A booted lab VM: Debian bookworm with cgroup v2 only, runc and crun, reached as root over SSH. */
export interface LabHost {
  /** lab-1, lab-2, …: also the VM's hostname. */
  name: string;
  hostname: string;
  ssh: LabSsh;
  /** Resident memory of the VM's QEMU process once SSH answered. */
  memoryKiB: number;
  /** From starting QEMU to the first successful SSH login. */
  bootSeconds: number;
  /** QEMU's pid (tests check it is gone after stop). */
  pid: number;
  /** Restored from a saved booted guest (lab/snapshot.ts) rather than booted. */
  restored: boolean;
}

export interface Lab {
  hosts: LabHost[];
  /** The run's directory (overlays, keys, console logs); removed by stop(). */
  dir: string;
  image: LabImage;
  /** Kills the VMs, waits for their QEMU processes and removes the run directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Kills one VM's QEMU at once (a machine that dies), keeping its disk for boot(). */
  kill(name: string): Promise<void>;
  /** Boots a VM that kill() stopped from its own disk (same port, identity and host key); resolves when SSH answers. */
  boot(name: string): Promise<void>;
}

export interface LabOptions {
  log?: (s: string) => void;
  /** Guest memory. @default 512 */
  memoryMiB?: number;
  /** vCPUs per VM. @default 2 for one VM, 1 when several share the host's cores (boots faster under TCG) */
  cpus?: number;
  /** @default process.env.KSLICE_LAB_ACCEL, else "tcg" */
  accel?: Accel;
  /** Bound on boot-to-SSH for all VMs. @default 90 s, plus 30 s per further VM */
  bootTimeoutMs?: number;
  /** A Debian mirror the guests reach at 10.0.2.100:80 (qemu.ts `mirror`), for tests that build Debian trees in a guest. @default none */
  mirror?: { host: string; port: number };
  /** Who boots them, for the boot log of `npm test` (scripts/test-table.ts): a test file, or "shared". @default "-" */
  by?: string;
  /**
   * For useLab (test/helpers/lab.ts): this file reboots, crashes or kills its guests, so it boots its
   * own instead of taking the tier's shared ones. startLab ignores it. @default false
   */
  own?: boolean;
}

const maxVms = 8;

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(none)";
  }
}

interface Vm {
  spec: VmSpec;
  child: ChildProcess;
  exited: Promise<void>;
}

interface BootContext {
  dir: string;
  image: LabImage;
  clientKey: string;
  usedPorts: Set<number>;
  vms: Vm[];
  opts: Required<Omit<LabOptions, "log" | "mirror" | "by" | "own">> & Pick<LabOptions, "mirror">;
  /** Set when another VM of the run failed: the others give up instead of booting on. */
  aborted: boolean;
  /** A saved guest to restore instead of booting (lab/snapshot.ts). */
  snapshot?: LabSnapshot;
}

const abortedMessage = "aborted: another VM of this run failed";

/** Starts one VM and waits for SSH; retries on a lost port race. Pushes the VM to `vms` as soon as QEMU runs. */
async function bootVm(i: number, ctx: BootContext): Promise<LabHost> {
  const name = `lab-${i}`;
  const dir = join(ctx.dir, `vm-${i}`);
  mkdirSync(dir);
  writeFileSync(join(dir, identityFiles.hostname), name);
  writeFileSync(join(dir, identityFiles.authorized_keys), readFileSync(`${ctx.clientKey}.pub`));
  await keygen(join(dir, identityFiles.ssh_host_ed25519_key), `${name}-host`);
  const hostKey = readFileSync(join(dir, identityFiles["ssh_host_ed25519_key.pub"]), "utf8").split(" ").slice(0, 2).join(" ");
  await createOverlay(ctx.image.path, join(dir, "overlay.qcow2"));

  let restore = ctx.snapshot;
  for (let attempt = 1; ; attempt++) {
    let port = await freePort();
    while (ctx.usedPorts.has(port)) port = await freePort();
    ctx.usedPorts.add(port);
    const knownHostsPath = join(dir, "known_hosts");
    writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostKey}\n`);
    const ssh: LabSsh = {
      host: "127.0.0.1",
      port,
      user: "root",
      privateKey: readFileSync(ctx.clientKey, "utf8"),
      privateKeyPath: ctx.clientKey,
      hostKey,
      knownHostsPath,
    };
    const spec: VmSpec = {
      name,
      dir,
      image: ctx.image,
      port,
      memoryMiB: ctx.opts.memoryMiB,
      cpus: ctx.opts.cpus,
      accel: ctx.opts.accel,
      mirror: ctx.opts.mirror,
    };
    if (ctx.aborted) throw new Error(abortedMessage);
    const started = Date.now();
    if (restore) await run("cp", ["--reflink=auto", restore.overlay, join(dir, "overlay.qcow2")], { timeoutMs: 60_000 });
    const child = spawnQemu(spec, restore ? { incoming: restore.state } : {});
    let exitCode: number | null | undefined;
    const exited = new Promise<void>((resolve) => child.once("exit", (code, signal) => ((exitCode = code ?? (signal ? -1 : null)), resolve())));
    child.once("error", () => (exitCode = -1));
    writeFileSync(join(dir, "qemu.pid"), String(child.pid ?? ""));
    const vm = { spec, child, exited };
    ctx.vms.push(vm);
    const failure = () => {
      if (exitCode !== undefined) return `QEMU for ${name} exited (${exitCode}); its stderr: ${tail(join(dir, "qemu.err"), 10)}`;
      return ctx.aborted ? abortedMessage : undefined;
    };
    if (restore) {
      try {
        await restoreIdentity(restore, { ...ssh, knownHostsPath: join(dir, "known_hosts.snapshot") }, dir, failure);
      } catch (err) {
        if ((err as Error).message === abortedMessage) throw err;
        // a snapshot QEMU cannot load (or a guest that will not take its identity) costs one boot, not the run
        console.warn(`[lab] ${name}: restoring the saved guest failed (${(err as Error).message.split("\n")[0]}); booting it instead`);
        child.kill("SIGKILL");
        await exited;
        ctx.vms.splice(ctx.vms.indexOf(vm), 1);
        await createOverlay(ctx.image.path, join(dir, "overlay.qcow2"));
        restore = undefined;
        continue;
      }
    }
    try {
      await waitForSsh(ssh, { timeoutMs: ctx.opts.bootTimeoutMs, failure });
    } catch (err) {
      if ((err as Error).message === abortedMessage) throw err;
      const portLost = exitCode !== undefined && /host forwarding rule|Address already in use/i.test(tail(join(dir, "qemu.err"), 10));
      if (portLost && attempt < 3) {
        ctx.vms.splice(ctx.vms.indexOf(vm), 1);
        continue;
      }
      // A guest whose kernel printed nothing at all hung before it started (seen now and then
      // under TCG, as with KVM here): boot it again rather than fail the suite. A slow boot that
      // prints is not retried; it has the whole timeout.
      const hung = !restore && exitCode === undefined && tail(join(dir, "console.log"), 25).trim() === "";
      if (hung && attempt < 3) {
        console.warn(`[lab] ${name}: no console output in ${Math.round((Date.now() - started) / 1000)}s; booting it again (attempt ${attempt + 1})`);
        child.kill("SIGKILL");
        await exited;
        ctx.vms.splice(ctx.vms.indexOf(vm), 1);
        await createOverlay(ctx.image.path, join(dir, "overlay.qcow2"));
        continue;
      }
      throw new Error(`${name}: ${(err as Error).message}\nlast console lines:\n${tail(join(dir, "console.log"), 25)}`, { cause: err });
    }
    const pid = child.pid ?? 0;
    return { name, hostname: name, ssh, memoryKiB: rssKiB(pid), bootSeconds: (Date.now() - started) / 1000, pid, restored: !!restore };
  }
}

/** Gives a guest restored from `snap` the identity in `dir` (the files fw_cfg gives a booting one). */
async function restoreIdentity(snap: LabSnapshot, ssh: LabSsh, dir: string, failure: () => string | undefined): Promise<void> {
  const template: LabSsh = { ...ssh, ...snap.ssh };
  writeFileSync(template.knownHostsPath, `[127.0.0.1]:${ssh.port} ${snap.ssh.hostKey}\n`);
  await waitForSsh(template, { timeoutMs: 120_000, failure });
  const file = (f: string) => readFileSync(join(dir, f), "utf8");
  const script = provisionScript({
    hostname: file(identityFiles.hostname).trim(),
    authorizedKeys: file(identityFiles.authorized_keys),
    hostKey: file(identityFiles.ssh_host_ed25519_key),
    hostKeyPub: file(identityFiles["ssh_host_ed25519_key.pub"]),
    machineId: randomBytes(16).toString("hex"),
    seed: randomBytes(64).toString("hex"),
  });
  const r = await sshRun({ ssh: template }, "sh -s", script, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`provisioning the restored guest exited ${r.exitCode}: ${r.stderr.trim()}`);
}

/** One line per boot for the table `npm test` prints (scripts/test-table.ts), when test.sh asks for it. */
function recordBoot(by: string, vms: number, seconds: number, accel: Accel, how: { restored?: number; saved?: boolean } = {}): void {
  const file = process.env.KSLICE_LAB_BOOT_LOG;
  if (!file) return;
  try {
    appendFileSync(
      file,
      JSON.stringify({ by, vms, seconds, accel, ...(how.restored ? { restored: how.restored } : {}), ...(how.saved ? { saved: true } : {}) }) + "\n",
    );
  } catch {
    // the log is a report, never a reason to fail a boot
  }
}

/**
 * Boots `count` throwaway VMs (cgroup v2 hosts) from copy-on-write overlays of the cached image,
 * each with a fresh host key, and resolves when every one answers SSH. On failure nothing is left.
 */
export async function startLab(count: number, opts: LabOptions = {}): Promise<Lab> {
  if (!Number.isInteger(count) || count < 1 || count > maxVms) throw new Error(`startLab: count ${count} is not an integer in 1..${maxVms}`);
  const memoryMiB = opts.memoryMiB ?? 512;
  if (memoryMiB > 512 || memoryMiB < 192) throw new Error(`startLab: memoryMiB ${memoryMiB} is outside 192..512`);
  const log = opts.log ?? (() => {});
  const accelEnv = process.env.KSLICE_LAB_ACCEL;
  const accel: Accel = opts.accel ?? (accelEnv === "kvm" ? "kvm" : "tcg");
  const cpus = opts.cpus ?? (count * 2 <= availableParallelism() ? 2 : 1);
  // bounded loosely: a TCG boot took 16-20 s on a quiet machine and over 140 s on a loaded one
  const bootTimeoutMs = opts.bootTimeoutMs ?? 180_000 + 30_000 * (count - 1);

  await sweepRuns({ log }); // VMs and files of test processes that died without stopping
  const image = await ensureImage({ log });
  log(`[lab] image ${image.path} ${image.built ? "built" : "cached"} (${image.seconds.toFixed(1)}s)`);

  const dir = createRunDir();
  const vms: Vm[] = [];
  // Last resort on a normal exit without stop(); a killed process is covered by pdeathsig and the sweep.
  const onExit = () => {
    for (const vm of vms) vm.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const vm of vms) vm.child.kill("SIGTERM");
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000).unref());
      if ((await Promise.race([Promise.all(vms.map((v) => v.exited)), timeout])) === "timeout") {
        for (const vm of vms) vm.child.kill("SIGKILL");
      }
      const left = await killAndWait(
        vms.map((v) => v.child.pid ?? 0).filter((p) => p > 0),
        2_000,
      );
      rmSync(dir, { recursive: true, force: true });
      process.off("exit", onExit);
      if (left.length > 0) throw new Error(`lab stop: QEMU pids ${left.join(", ")} survived SIGKILL`);
      log(`[lab] stopped ${vms.length} VM(s), removed ${dir}`);
    })());

  try {
    const clientKey = join(dir, "id_ed25519");
    await keygen(clientKey, "kslice-lab");
    // KSLICE_LAB_SNAPSHOT=0: every VM boots. Saved guests are for TCG, where a boot is what costs.
    const snapshot =
      accel === "tcg" && process.env.KSLICE_LAB_SNAPSHOT !== "0"
        ? await ensureSnapshot(image, { cpus, memoryMiB, mirror: opts.mirror, accel }, dir, log).catch((err: Error) => {
            console.warn(`[lab] no saved guest to restore (${err.message.split("\n")[0]}); booting instead`);
            return undefined;
          })
        : undefined;
    if (snapshot?.builtSeconds) recordBoot(opts.by ?? "-", 1, snapshot.builtSeconds, accel, { saved: true });
    const started = Date.now();
    const ctx: BootContext = {
      dir,
      image,
      clientKey,
      usedPorts: new Set(),
      vms,
      opts: { memoryMiB, cpus, accel, bootTimeoutMs, mirror: opts.mirror },
      aborted: false,
      snapshot,
    };
    // Boot all at once; the first failure stops the others' waits, and all settle before cleanup.
    const settled = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        bootVm(i + 1, ctx).catch((err: unknown) => {
          ctx.aborted = true;
          throw err;
        }),
      ),
    );
    const failures = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as Error] : []));
    if (failures.length > 0) throw failures.find((e) => e.message !== abortedMessage) ?? failures[0];
    const hosts = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    for (const h of hosts) {
      log(`[lab] ${h.name}: ssh root@127.0.0.1 -p ${h.ssh.port} after ${h.bootSeconds.toFixed(1)}s, QEMU RSS ${(h.memoryKiB / 1024).toFixed(0)} MiB`);
    }
    const bootSeconds = (Date.now() - started) / 1000;
    const restored = hosts.filter((h) => h.restored).length;
    log(
      `[lab] ${count} VM(s) (${accel}, ${cpus} vCPU, ${memoryMiB} MiB${restored ? `, ${restored} restored from a saved guest` : ""}) answered SSH in ${bootSeconds.toFixed(1)}s`,
    );
    recordBoot(opts.by ?? "-", count, bootSeconds, accel, { restored });
    const vmOf = (name: string) => {
      const vm = vms.find((v) => v.spec.name === name);
      const host = hosts.find((h) => h.name === name);
      if (!vm || !host) throw new Error(`lab: no VM ${name}`);
      return { vm, host };
    };
    const kill = async (name: string) => {
      const { vm } = vmOf(name);
      vm.child.kill("SIGKILL");
      await vm.exited;
    };
    const boot = async (name: string) => {
      const { vm, host } = vmOf(name);
      const bootStarted = Date.now();
      const child = spawnQemu(vm.spec);
      let exitCode: number | null | undefined;
      const exited = new Promise<void>((resolve) => child.once("exit", (code, signal) => ((exitCode = code ?? (signal ? -1 : null)), resolve())));
      vms.splice(vms.indexOf(vm), 1, { spec: vm.spec, child, exited });
      writeFileSync(join(vm.spec.dir, "qemu.pid"), String(child.pid ?? ""));
      await waitForSsh(host.ssh, {
        timeoutMs: bootTimeoutMs,
        failure: () => (exitCode !== undefined ? `QEMU for ${name} exited (${exitCode}); its stderr: ${tail(join(vm.spec.dir, "qemu.err"), 10)}` : undefined),
      });
      host.pid = child.pid ?? 0;
      recordBoot(opts.by ?? "-", 1, (Date.now() - bootStarted) / 1000, accel);
    };
    return { hosts, dir, image, stop, kill, boot };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
