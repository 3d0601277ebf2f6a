import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { run } from "./exec";
import type { LabImage } from "./image";

export type Accel = "tcg" | "kvm";

/** One VM as QEMU is asked to run it; every path lives in `dir` (the VM's folder of the run). */
export interface VmSpec {
  name: string;
  dir: string;
  image: LabImage;
  /** 127.0.0.1 port forwarded to the guest's sshd. */
  port: number;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  /**
   * The Debian mirror (host:port, plain HTTP) that the guest reaches at 10.0.2.100:80 through a
   * guestfwd; restrict=on still cuts the guest off from everything else. @default no forward
   */
  mirror?: { host: string; port: number };
}

/** The guest's address of the forwarded mirror (inside QEMU's user network, never on the host). */
export const mirrorGuestAddress = "10.0.2.100";

// Kernel command line: cgroup v2 only (no v1 controller can be mounted), root straight from
// the virtio disk, console on the serial port (kept in console.log), and less work at boot.
const cmdline = [
  "root=/dev/vda rw",
  "console=ttyS0",
  "systemd.unified_cgroup_hierarchy=1",
  "cgroup_no_v1=all",
  "fsck.mode=skip",
  "quiet",
  "mitigations=off", // a throwaway test guest: Spectre work only slows TCG down
].join(" ");

/** The fw_cfg items the guest's kslice-lab-provision reads (see guest/usr/local/sbin). */
export const identityFiles = {
  hostname: "hostname",
  authorized_keys: "authorized_keys",
  ssh_host_ed25519_key: "ssh_host_ed25519_key",
  "ssh_host_ed25519_key.pub": "ssh_host_ed25519_key.pub",
} as const;

/** For one start of QEMU only: a monitor socket (HMP), a saved guest to restore instead of booting. */
export interface StartOptions {
  monitor?: string;
  /** A migration stream written by lab/snapshot.ts; QEMU loads it and runs on. */
  incoming?: string;
}

/**
 * The CPU TCG emulates. Not "max": with AVX2 offered, the guest's OpenSSL and glibc take vector
 * paths TCG emulates slowly (SSH carried 64 MiB in 10-13 s with max, 5.4-6.1 s with Nehalem).
 */
export const tcgCpu = "Nehalem";

export function qemuArgs(vm: VmSpec, start: StartOptions = {}): string[] {
  // TCG works on the build machines; KVM guests hang there before the kernel prints anything.
  // tb-size bounds TCG's translation cache (default 1 GiB): about 400 MiB RSS per VM instead of 700.
  const accel = vm.accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg,thread=multi,tb-size=128", "-cpu", tcgCpu];
  const fwcfg = Object.entries(identityFiles).flatMap(([item, file]) => ["-fw_cfg", `name=opt/kslice/${item},file=${join(vm.dir, file)}`]);
  return [
    "-name",
    vm.name,
    ...accel,
    "-machine",
    "pc",
    "-smp",
    String(vm.cpus),
    "-m",
    String(vm.memoryMiB),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-kernel",
    vm.image.kernel,
    "-initrd",
    vm.image.initrd,
    "-append",
    cmdline,
    "-drive",
    `file=${join(vm.dir, "overlay.qcow2")},if=virtio,format=qcow2,cache=unsafe,discard=unmap`,
    // restrict=on: the guest reaches neither the host nor the outside; only the forward below reaches it.
    "-nic",
    `user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:${vm.port}-:22${mirrorForward(vm)}`,
    "-device",
    "virtio-rng-pci",
    // a new generation id per start: a guest restored from a saved one (lab/snapshot.ts) reseeds its RNG
    "-device",
    "vmgenid",
    ...fwcfg,
    "-serial",
    `file:${join(vm.dir, "console.log")}`,
    ...(start.monitor ? ["-monitor", `unix:${start.monitor},server=on,wait=off`] : []),
    ...(start.incoming ? ["-incoming", `exec:cat ${safePath(start.incoming)}`] : []),
  ];
}

// QEMU hands exec: URIs to /bin/sh
function safePath(p: string): string {
  if (!/^[\w/.+-]+$/.test(p)) throw new Error(`lab: path ${p} has characters a shell would read`);
  return p;
}

// QEMU runs the command per guest connection with the connection as its stdin and stdout; bash's
// /dev/tcp joins it to the mirror. Names and ports are checked: this string reaches a shell.
function mirrorForward(vm: VmSpec): string {
  if (!vm.mirror) return "";
  const { host, port } = vm.mirror;
  if (!/^[a-z0-9.-]+$/i.test(host) || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`lab mirror: bad host:port ${host}:${port}`);
  return `,guestfwd=tcp:${mirrorGuestAddress}:80-cmd:bash -c 'exec 3<>/dev/tcp/${host}/${port}; cat <&3 & cat >&3; wait'`;
}

const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

/**
 * Starts QEMU in the foreground of a child process. Under setpriv --pdeathsig it is killed by the
 * kernel when the process that started it dies, so a killed test run leaves no VM running.
 * QEMU's stderr goes to qemu.err in the VM's folder.
 */
export function spawnQemu(vm: VmSpec, start: StartOptions = {}): ChildProcess {
  const err = openSync(join(vm.dir, "qemu.err"), "w");
  const qemu = ["qemu-system-x86_64", ...qemuArgs(vm, start)];
  const [file, ...args] = setpriv ? [setpriv, "--pdeathsig", "KILL", "--", ...qemu] : qemu;
  try {
    return spawn(file!, args, { stdio: ["ignore", "ignore", err] });
  } finally {
    closeSync(err);
  }
}

/** A fresh copy-on-write overlay at PATH over the image (a VM's disk: the image itself is never written). */
export const createOverlay = (imagePath: string, path: string) =>
  run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", imagePath, "-F", "raw", path], { timeoutMs: 30_000 });
