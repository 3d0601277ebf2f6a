import type { ControllerMapping, FileRef, Files } from "./settings";

/** What a cgroup has used, read from the kernel. Each controller reports its own fields (its mapping's `usage`). */
export interface Usage {
  memoryCurrentBytes: number;
  memoryPeakBytes: number;
  oomKills: number;
  cpuUsageNs: number;
  pidsCurrent: number;
}

/** What no controller reports counts 0. */
const none: Usage = { memoryCurrentBytes: 0, memoryPeakBytes: 0, oomKills: 0, cpuUsageNs: 0, pidsCurrent: 0 };

/** The files a hierarchy's controllers read for the usage. */
export function usageFiles(controllers: readonly ControllerMapping[]): FileRef[] {
  return controllers.flatMap((c) => c.usage?.files ?? []);
}

/** The usage, each field from the controller that reports it; a missing file (a controller off, an older kernel) counts 0. */
export function parseUsage(controllers: readonly ControllerMapping[], files: Files): Usage {
  return Object.assign({ ...none }, ...controllers.map((c) => c.usage?.read(files) ?? {})) as Usage;
}
