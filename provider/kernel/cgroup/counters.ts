import type { ControllerMapping, FileRef, Files } from "./settings";

/**
 * The kernel's fail counters of a cgroup (what OpenVZ called failcnt): how often a limit was hit.
 * Each counts from the cgroup's creation and never goes down. Each controller reports its own
 * fields (its mapping's `counters`): the files named below are v2's and v1's.
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

/** What no controller reports counts 0 (memory.high's events: null, no controller has them). */
const none: FailCounters = { oomKills: 0, pidsMaxHits: 0, memoryHighEvents: null, memoryMaxEvents: 0, cpuThrottledPeriods: 0, cpuThrottledUs: 0 };

/** The files a hierarchy's controllers read for the counters. */
export function counterFiles(controllers: readonly ControllerMapping[]): FileRef[] {
  return controllers.flatMap((c) => c.counters?.files ?? []);
}

/** The counters, each field from the controller that reports it; a missing file counts 0. */
export function parseCounters(controllers: readonly ControllerMapping[], files: Files): FailCounters {
  return Object.assign({ ...none }, ...controllers.map((c) => c.counters?.read(files) ?? {})) as FailCounters;
}
