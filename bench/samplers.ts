// Host memory and CPU: processes from /proc, their RSS/PSS and CPU over a window, and the kernel's
// own memory (/proc/meminfo) before and after N containers start, to cost an idle container.
import { readFileSync, readdirSync } from "node:fs";
import { now, sh, sum } from "./common";

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  cgroup: string;
}

export function procs(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, "utf8");
      out.push({
        pid: Number(d),
        ppid: Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? 0),
        comm: /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "",
        cmdline: readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ").trim(),
        cgroup: readFileSync(`/proc/${d}/cgroup`, "utf8"),
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** VmRSS and Pss of a process in KiB (0 when it is gone). */
function memOf(pid: number): { rss: number; pss: number } {
  try {
    const rss = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    const pss = Number(/^Pss:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    return { rss, pss };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

export interface HostMem {
  /** Processes seen in the first sample. */
  procs: string[];
  /** Most processes seen in one sample. */
  maxProcs: number;
  samples: number;
  windowMs: number;
  /** Mean over the samples of the summed VmRSS / Pss, KiB. */
  rssKiB: number;
  pssKiB: number;
  /** CPU of the long-lived processes (with the children they reaped) over the window, % of one core. */
  cpuPct: number;
}

/** utime + stime + cutime + cstime of a process, in clock ticks. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return undefined;
  }
}

const clockTicks = Number(sh("getconf CLK_TCK").out.trim()) || 100;

/** The window over which idle memory and CPU are sampled. */
export const idleWindowMs = 10_000;

/**
 * Samples, every 250 ms for windowMs, the processes find() returns: their summed RSS and PSS
 * (mean of the samples, so that short-lived children count as often as they exist) and the CPU
 * of the long-lived ones (longLived) over the window.
 */
export async function sampleHost(find: () => Proc[], longLived: (p: Proc) => boolean, windowMs = idleWindowMs): Promise<HostMem> {
  const first = find();
  const t0 = now();
  const start = new Map(first.filter(longLived).map((p) => [p.pid, cpuTicks(p.pid)]));
  let rss = 0;
  let pss = 0;
  let samples = 0;
  let maxProcs = 0;
  for (let i = 0; i < 1000 && now() - t0 < windowMs; i++) {
    const ps = i === 0 ? first : find();
    maxProcs = Math.max(maxProcs, ps.length);
    for (const p of ps) {
      const m = memOf(p.pid);
      rss += m.rss;
      pss += m.pss;
    }
    samples++;
    await new Promise((r) => setTimeout(r, 250));
  }
  const secs = (now() - t0) / 1000;
  let ticks = 0;
  for (const [pid, a] of start) {
    const b = cpuTicks(pid);
    if (a !== undefined && b !== undefined) ticks += b - a;
  }
  return {
    procs: first.map((p) => `${p.pid} ${p.cmdline.slice(0, 60)}`),
    maxProcs,
    samples,
    windowMs,
    rssKiB: samples ? rss / samples : 0,
    pssKiB: samples ? pss / samples : 0,
    cpuPct: secs > 0 ? (100 * ticks) / clockTicks / secs : 0,
  };
}

/** Whether a process sits in a cgroup below /<root>/ (any hierarchy). */
export const inCgroup = (p: Proc, root: string) => p.cgroup.includes(`:/${root}/`);

/**
 * kslice's processes on the host outside every container cgroup: those whose command line names
 * kslice's own dirs (the supervisor: sh /var/lib/<prefix>/supervisor.sh), plus their children.
 */
export function ksliceHostProcs(prefix: string): Proc[] {
  const all = procs();
  const marks = [`/var/lib/${prefix}/`, `/run/${prefix}/`];
  const roots = all.filter((p) => p.pid !== process.pid && !inCgroup(p, prefix) && marks.some((m) => p.cmdline.includes(m)));
  const ids = new Set(roots.map((p) => p.pid));
  const kids = all.filter((p) => ids.has(p.ppid) && !ids.has(p.pid) && !inCgroup(p, prefix));
  return [...roots, ...kids];
}

export const isSupervisor = (prefix: string) => (p: Proc) => p.cmdline.includes(`/var/lib/${prefix}/supervisor.sh`);

// ---------- the kernel's memory ----------

/** The /proc/meminfo fields an idle container can grow, KiB. */
export interface MemInfo {
  available: number;
  /** SUnreclaim + KernelStack + PageTables + Percpu: what the kernel holds and cannot drop (reclaimable slab is cache). */
  kernel: number;
}

export function meminfo(): MemInfo {
  const text = readFileSync("/proc/meminfo", "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+)`, "m").exec(text)?.[1] ?? 0);
  return {
    available: kib("MemAvailable"),
    kernel: kib("SUnreclaim") + kib("KernelStack") + kib("PageTables") + kib("Percpu"),
  };
}

/** The summed PSS, KiB, of the processes in cgroups below /<root>/ that own() accepts. */
export function cgroupPssKiB(root: string, own: (p: Proc) => boolean = () => true): { pss: number; count: number } {
  const mine = procs().filter((p) => inCgroup(p, root) && own(p));
  return { pss: sum(mine.map((p) => memOf(p.pid).pss)), count: mine.length };
}

/** What N idle containers cost the host beyond their own processes, per container, KiB. */
export interface IdleCost {
  n: number;
  /** (MemAvailable before − after) / N − the containers' own PSS / N: supervisor, conmon, kernel, page cache. */
  beyondOwnKiB: number;
  /** Δ(SUnreclaim + KernelStack + PageTables + Percpu) / N. */
  kernelKiB: number;
  /** The containers' own processes (PSS) / N. */
  ownKiB: number;
  ownProcs: number;
}

export function idleCost(n: number, before: MemInfo, after: MemInfo, own: { pss: number; count: number }): IdleCost {
  return {
    n,
    beyondOwnKiB: (before.available - after.available - own.pss) / n,
    kernelKiB: (after.kernel - before.kernel) / n,
    ownKiB: own.pss / n,
    ownProcs: own.count,
  };
}
