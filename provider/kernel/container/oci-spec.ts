import type { ContainerArgs } from "../../../schema/container";
import { procViewFiles, procViewMounts } from "./lxcfs";
import { seccompProfile } from "./seccomp";
import { rangeSize } from "./uid-ranges";

/** The 14 capabilities Docker grants by default. */
/** The RLIMIT_NOFILE a container's config holds (hard), given the host's hard limit. */
export const nofileLimit = (hostHard: number) => Math.min(1024 * 1024, hostHard);

export const defaultCapabilities = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Paths a container must not read (masked) or write (read-only), as runc's and Docker's defaults. */
export const maskedPaths = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
export const readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export interface SpecContext {
  /** cgroupsPath: "/<prefix>/<parent>/<name>". */
  cgroupsPath: string;
  cgroupVersion: 1 | 2;
  /** RLIMIT_NOFILE hard limit of the host: root here cannot raise it (no CAP_SYS_RESOURCE). */
  nofileHard: number;
  /** Host files bind-mounted read-only as /etc/resolv.conf, /etc/hosts and /etc/hostname (rewritten in place to change them live). */
  etc: { resolvConf: string; hosts: string; hostname: string };
  /** Host uid/gid of the container's root: its claimed range (uid-ranges.ts). Required with a user namespace. */
  userNamespaceBase?: number;
  /** The runtime and kernel make read-only binds recursive ("rro", mount_setattr): submounts are read-only too. */
  recursiveReadOnly?: boolean;
  /** The prefix's lxcfs mount, when the container's /proc views are on (lxcfs.ts). */
  lxcfs?: string;
}

/**
 * The spec as kslice wrote it before /etc/hostname was mounted (and before sysctls): a container
 * made then (its recorded hash) is still the same declaration when it declares no sysctls.
 */
export function specBeforeHostname(spec: Record<string, unknown>): Record<string, unknown> | undefined {
  const mounts = spec.mounts as { destination: string }[];
  if ((spec.linux as { sysctl?: unknown }).sysctl || !mounts.some((m) => m.destination === "/etc/hostname")) return undefined;
  return { ...spec, mounts: mounts.filter((m) => m.destination !== "/etc/hostname") };
}

/**
 * The spec without the /proc views: a container made before them runs the same declaration; it
 * gets them at its next restart, not a restart now.
 */
export function specBeforeProcViews(spec: Record<string, unknown>): Record<string, unknown> | undefined {
  const mounts = spec.mounts as { destination: string; source?: string }[];
  const views = mounts.filter((m) => procViewFiles.includes(m.destination) && m.source?.endsWith(m.destination));
  if (!views.length) return undefined;
  return { ...spec, mounts: mounts.filter((m) => !views.includes(m)) };
}

/** The OCI runtime config for a container (pure: unit-tested, written by the reconciler). */
export function ociSpec(a: ContainerArgs, ctx: SpecContext): Record<string, unknown> {
  const drop = new Set(a.security.capDrop);
  const caps = [...new Set([...defaultCapabilities, ...a.security.capAdd])].filter((c) => !drop.has(c)).sort();
  const userns = a.security.userNamespace;
  const nofile = nofileLimit(ctx.nofileHard);
  // plain "ro" leaves the source's submounts writable: where "rro" is missing, check refuses those
  const readOnly = ctx.recursiveReadOnly ? "rro" : "ro";
  const base = ctx.userNamespaceBase;
  if (userns && base === undefined) throw new Error(`container ${a.name}: no user-namespace range claimed`);
  const mounts: Record<string, unknown>[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", ...(userns ? [] : ["gid=5"])],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    // A v1 cgroup mount needs the host's cgroup namespace; in a user namespace on v1 an empty
    // read-only tmpfs stands at /sys/fs/cgroup instead (the runtime may otherwise leave it writable).
    userns && ctx.cgroupVersion === 1
      ? { destination: "/sys/fs/cgroup", type: "tmpfs", source: "tmpfs", options: ["nosuid", "noexec", "nodev", "ro", "size=4k", "mode=555"] }
      : { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
    { destination: "/etc/resolv.conf", type: "bind", source: ctx.etc.resolvConf, options: ["rbind", "ro", "nosuid", "nodev", "noexec"] },
    { destination: "/etc/hosts", type: "bind", source: ctx.etc.hosts, options: ["rbind", "ro", "nosuid", "nodev", "noexec"] },
    { destination: "/etc/hostname", type: "bind", source: ctx.etc.hostname, options: ["rbind", "ro", "nosuid", "nodev", "noexec"] },
    // after the /proc and /sys mounts they cover; before the user's, which may not cover them
    ...(ctx.lxcfs ? procViewMounts(ctx.lxcfs) : []),
    ...a.mounts.map((m) =>
      m.type === "bind"
        ? { destination: m.target, type: "bind", source: m.source, options: ["rbind", m.readOnly ? readOnly : "rw", "nosuid", "nodev"] }
        : { destination: m.target, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", `size=${m.size}`, "mode=1777"] },
    ),
  ];
  const namespaces = [
    { type: "pid" },
    { type: "network" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
    ...(ctx.cgroupVersion === 2 ? [{ type: "cgroup" }] : []),
    ...(userns ? [{ type: "user" }] : []),
  ];
  const seccomp = seccompProfile(caps, a.security.seccomp);
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: a.user.uid, gid: a.user.gid },
      args: a.command,
      env: [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        `HOSTNAME=${a.hostname ?? a.name}`,
        ...Object.entries(a.env).map(([k, v]) => `${k}=${v}`),
      ],
      cwd: a.workingDir,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: nofile, soft: Math.min(1024, nofile) }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: a.security.readOnlyRootfs },
    hostname: a.hostname ?? a.name,
    mounts,
    linux: {
      cgroupsPath: ctx.cgroupsPath,
      // deny-by-default: the runtime adds only /dev/null, zero, full, random, urandom, tty, ptmx
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces,
      ...(userns ? { uidMappings: [{ containerID: 0, hostID: base, size: rangeSize }], gidMappings: [{ containerID: 0, hostID: base, size: rangeSize }] } : {}),
      // written by the runtime in the container's namespaces before its init runs (schema/sysctl.ts
      // admits only namespaced ones); left out when none, so older containers' specs stay the same
      ...(Object.keys(a.sysctls).length ? { sysctl: { ...a.sysctls } } : {}),
      maskedPaths,
      readonlyPaths,
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
