import type { Transport } from "../transport/transport";

export type CgroupMode = "legacy" | "hybrid" | "unified";
export type RuntimeName = "runc" | "crun";

export interface RuntimeInfo {
  name: RuntimeName;
  path: string;
  version: string;
}

/** What the kernel and the host's tools report; read in one command so SSH pays one round trip. */
export interface HostFacts {
  /**
   * The machine's identity (/etc/machine-id, written once at install and kept across reboots and
   * address changes); "" when the host has none.
   */
  machineId: string;
  hostname: string;
  kernelRelease: string;
  cgroupMode: CgroupMode;
  /** Mount point of the v2 tree ("/sys/fs/cgroup" or "/sys/fs/cgroup/unified"), if any. */
  cgroupV2Mount: string | null;
  /** Controllers usable through v2 (those in the root's cgroup.controllers). */
  cgroupV2Controllers: string[];
  /** Every cgroup hierarchy mounted (v1 controllers, named ones like name=systemd, and v2). */
  cgroupMounts: string[];
  /** v1 controllers and their mount points. */
  cgroupV1Mounts: Record<string, string>;
  cpuCount: number;
  memoryTotalBytes: number;
  userNamespaces: boolean;
  runtimes: RuntimeInfo[];
  /** Optional kernel files present: v1-memsw, v1-blkio-weight, v2-swap, cgroup-kill. */
  features: string[];
  /** Hard RLIMIT_NOFILE of kslice's commands: without CAP_SYS_RESOURCE a container cannot get more. */
  nofileHard: number;
  /** CPUs the host's root cgroup may use, e.g. "0-1". */
  effectiveCpus: string;
}

const sections = {
  machineid: "cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id",
  hostname: "cat /proc/sys/kernel/hostname",
  release: "uname -r",
  cpus: "nproc",
  meminfo: "grep MemTotal /proc/meminfo",
  mounts: "grep -E ' cgroup2? ' /proc/mounts",
  v2controllers: 'for m in $(awk \'$3=="cgroup2"{print $2}\' /proc/mounts); do echo "$m $(cat $m/cgroup.controllers)"; done',
  userns: "cat /proc/sys/user/max_user_namespaces",
  nofile: "ulimit -Hn",
  // optional kernel files that decide what a host can express
  features: [
    "test -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes && echo v1-memsw",
    "test -e /sys/fs/cgroup/blkio/blkio.weight && echo v1-blkio-weight",
    "ls /sys/fs/cgroup/*/memory.swap.max >/dev/null 2>&1 && echo v2-swap",
    "ls /sys/fs/cgroup/*/cgroup.kill >/dev/null 2>&1 && echo cgroup-kill",
    "true",
  ].join("; "),
  effective: "cat /sys/fs/cgroup/cpuset.cpus.effective 2>/dev/null || cat /sys/fs/cgroup/cpuset/cpuset.effective_cpus",
  runc: 'p=$(command -v runc) && echo "$p" && runc --version',
  crun: 'p=$(command -v crun) && echo "$p" && crun --version',
} as const;

type Section = keyof typeof sections;

/** The shell script that prints every section between markers; a failing section prints nothing. */
export function factsScript(): string {
  return Object.entries(sections)
    .map(([name, cmd]) => `echo '@@${name}'; (${cmd}) 2>/dev/null`)
    .join("\n");
}

export function splitSections(output: string): Record<Section, string> {
  const out = Object.fromEntries(Object.keys(sections).map((k) => [k, ""])) as Record<Section, string>;
  let current: Section | undefined;
  for (const line of output.split("\n")) {
    const m = /^@@(\w+)$/.exec(line);
    if (m && m[1]! in sections) {
      current = m[1] as Section;
      continue;
    }
    if (current) out[current] += (out[current] ? "\n" : "") + line;
  }
  for (const k of Object.keys(out) as Section[]) out[k] = out[k].trim();
  return out;
}

/** Pure: turns the script's output into facts. */
export function parseFacts(output: string): HostFacts {
  const s = splitSections(output);
  const v1: Record<string, string> = {};
  const all: string[] = [];
  let v2Mount: string | null = null;
  for (const line of s.mounts.split("\n").filter(Boolean)) {
    const [, mnt, fstype, opts] = line.split(" ");
    if (!mnt || !fstype) continue;
    all.push(mnt);
    if (fstype === "cgroup2") {
      v2Mount = mnt;
      continue;
    }
    // v1 mount options name the controllers a hierarchy carries (e.g. "rw,relatime,cpu,cpuacct").
    for (const opt of (opts ?? "").split(",")) {
      if (v1Controllers.has(opt)) v1[opt] = mnt;
    }
  }
  const v2Controllers: string[] = [];
  for (const line of s.v2controllers.split("\n").filter(Boolean)) {
    const [mnt, ...ctrls] = line.split(" ");
    if (mnt === v2Mount) v2Controllers.push(...ctrls.filter(Boolean));
  }
  const hasV1 = Object.keys(v1).length > 0;
  const cgroupMode: CgroupMode = !hasV1 ? "unified" : v2Mount ? "hybrid" : "legacy";
  const mem = /MemTotal:\s+(\d+)\s+kB/.exec(s.meminfo);
  const runtimes: RuntimeInfo[] = [];
  for (const name of ["runc", "crun"] as const) {
    const [path, ...rest] = s[name].split("\n");
    const version = new RegExp(`^${name} version (\\S+)`, "m").exec(rest.join("\n"));
    if (path && version?.[1]) runtimes.push({ name, path, version: version[1] });
  }
  return {
    machineId: /^[0-9a-f]{32}$/.test(s.machineid) ? s.machineid : "",
    hostname: s.hostname,
    kernelRelease: s.release,
    cgroupMode,
    cgroupV2Mount: v2Mount,
    cgroupV2Controllers: v2Controllers.sort(),
    cgroupMounts: all,
    cgroupV1Mounts: Object.fromEntries(Object.entries(v1).sort(([a], [b]) => a.localeCompare(b))),
    cpuCount: Number(s.cpus) || 0,
    memoryTotalBytes: mem ? Number(mem[1]) * 1024 : 0,
    userNamespaces: Number(s.userns) > 0,
    runtimes,
    features: s.features.split("\n").filter(Boolean),
    nofileHard: s.nofile === "unlimited" ? 1024 * 1024 : Number(s.nofile) || 1024,
    effectiveCpus: s.effective || (Number(s.cpus) > 1 ? `0-${Number(s.cpus) - 1}` : "0"),
  };
}

/** Runtime versions that take the recursive read-only mount option "rro" (runc #3272, crun #778). */
const rroSince: Record<RuntimeName, [number, number]> = { runc: [1, 1], crun: [1, 4] };

/**
 * Can read-only bind mounts be recursive here (OCI "rro")? The runtime's version must take the
 * option (Debian 12's crun 1.8.1 has no `features` command to ask) and the kernel must have
 * mount_setattr (5.12).
 */
export function recursiveReadOnly(facts: Pick<HostFacts, "runtimes" | "kernelRelease">, runtime: RuntimeName): boolean {
  // asked by every container's check and diff: answered once per facts and runtime
  let known = rroKnown.get(facts);
  if (!known) rroKnown.set(facts, (known = new Map()));
  let v = known.get(runtime);
  if (v === undefined) known.set(runtime, (v = rroOf(facts, runtime)));
  return v;
}

const rroKnown = new WeakMap<object, Map<RuntimeName, boolean>>();

function rroOf(facts: Pick<HostFacts, "runtimes" | "kernelRelease">, runtime: RuntimeName): boolean {
  const atLeast = (v: string, [major, minor]: [number, number]) => {
    const [a = 0, b = 0] = v.split(/[.+~-]/).map(Number);
    return a > major || (a === major && b >= minor);
  };
  const version = facts.runtimes.find((r) => r.name === runtime)?.version;
  return version !== undefined && atLeast(version, rroSince[runtime]) && atLeast(facts.kernelRelease, [5, 12]);
}

/** v1 controllers kslice knows by name (name=systemd and similar named hierarchies are not controllers). */
const v1Controllers = new Set([
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "devices",
  "freezer",
  "blkio",
  "pids",
  "net_cls",
  "net_prio",
  "perf_event",
  "hugetlb",
  "rdma",
  "misc",
]);

export async function readHostFacts(t: Transport): Promise<HostFacts> {
  const r = await t.run(["sh", "-c", factsScript()], { timeoutMs: 20_000 });
  return parseFacts(r.stdout);
}

/**
 * The controllers kslice can manage on this host: v2's list on unified hosts, v1's on legacy and
 * hybrid ones (the hybrid v2 tree is left to systemd: its controllers are bound to v1).
 */
export function managedControllers(f: HostFacts): string[] {
  return f.cgroupMode === "unified" ? f.cgroupV2Controllers : Object.keys(f.cgroupV1Mounts);
}

/**
 * Which runtime to use. crun refuses hybrid mode ("cgroups in hybrid mode not supported"), so
 * auto prefers crun only on unified hosts.
 */
export function chooseRuntime(f: HostFacts, wanted: "auto" | RuntimeName): { runtime: RuntimeInfo } | { error: string } {
  const have = (n: RuntimeName) => f.runtimes.find((r) => r.name === n);
  if (wanted === "crun" && f.cgroupMode === "hybrid") {
    return { error: `crun does not support cgroup hybrid mode, which this host runs; use "runc" or "auto"` };
  }
  const order: RuntimeName[] = wanted !== "auto" ? [wanted] : f.cgroupMode === "unified" ? ["crun", "runc"] : ["runc"];
  for (const n of order) {
    const r = have(n);
    if (r) return { runtime: r };
  }
  const pkgs = order.join(" or ");
  return { error: `no OCI runtime found (looked for ${pkgs}); install the Debian package ${order[0]} (apt-get install ${order[0]})` };
}
