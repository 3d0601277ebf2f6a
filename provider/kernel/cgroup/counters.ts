import type { Files } from "./settings";

/**
 * The kernel's fail counters of a cgroup (what OpenVZ called failcnt): how often a limit was hit.
 * Each counts from the cgroup's creation and never goes down.
 */
export interface FailCounters {
  /** Processes killed by the OOM killer inside (v2 memory.events oom_kill; v1 memory.oom_control oom_kill). */
  oomKills: number;
  /** Forks refused at pids.max (pids.events max, both versions). */
  pidsMaxHits: number;
  /** Times usage went over memory.high (v2 memory.events high); null on v1, which has no memory.high. */
  memoryHighEvents: number | null;
  /** Times usage hit memory.max (v2 memory.events max; v1 memory.failcnt). */
  memoryMaxEvents: number;
  /** Periods in which the cgroup was throttled by its CPU quota (cpu.stat nr_throttled, both versions). */
  cpuThrottledPeriods: number;
  /** Time spent throttled, in µs (v2 cpu.stat throttled_usec; v1 cpu.stat throttled_time in ns). */
  cpuThrottledUs: number;
}

/** Files read for the counters, as [hierarchy or controller, file]. */
export const counterFiles = {
  1: [["memory", "memory.oom_control"], ["memory", "memory.failcnt"], ["pids", "pids.events"], ["cpu", "cpu.stat"]],
  2: [["memory", "memory.events"], ["pids", "pids.events"], ["cpu", "cpu.stat"]],
} as const;

const field = (v: string | undefined, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(v ?? "")?.[1] ?? 0);

export function parseCounters(version: 1 | 2, f: Files): FailCounters {
  return version === 2
    ? {
        oomKills: field(f["memory/memory.events"], "oom_kill"),
        pidsMaxHits: field(f["pids/pids.events"], "max"),
        memoryHighEvents: field(f["memory/memory.events"], "high"),
        memoryMaxEvents: field(f["memory/memory.events"], "max"),
        cpuThrottledPeriods: field(f["cpu/cpu.stat"], "nr_throttled"),
        cpuThrottledUs: field(f["cpu/cpu.stat"], "throttled_usec"),
      }
    : {
        oomKills: field(f["memory/memory.oom_control"], "oom_kill"),
        pidsMaxHits: field(f["pids/pids.events"], "max"),
        memoryHighEvents: null,
        memoryMaxEvents: Number((f["memory/memory.failcnt"] ?? "").trim()) || 0,
        cpuThrottledPeriods: field(f["cpu/cpu.stat"], "nr_throttled"),
        cpuThrottledUs: Math.round(field(f["cpu/cpu.stat"], "throttled_time") / 1000),
      };
}
