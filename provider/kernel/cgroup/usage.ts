import type { Files } from "./settings";

/** What a cgroup has used, read from the kernel. */
export interface Usage {
  memoryCurrentBytes: number;
  memoryPeakBytes: number;
  oomKills: number;
  cpuUsageNs: number;
  pidsCurrent: number;
}

export const usageFiles = {
  1: [
    ["memory", "memory.usage_in_bytes"], ["memory", "memory.max_usage_in_bytes"], ["memory", "memory.oom_control"],
    ["cpuacct", "cpuacct.usage"], ["pids", "pids.current"],
  ],
  2: [["memory", "memory.current"], ["memory", "memory.peak"], ["memory", "memory.events"], ["cpu", "cpu.stat"], ["pids", "pids.current"]],
} as const;

const num = (v: string | undefined) => Number((v ?? "").trim()) || 0;
const field = (v: string | undefined, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(v ?? "")?.[1] ?? 0);

export function parseUsage(version: 1 | 2, f: Files): Usage {
  return version === 2
    ? {
        memoryCurrentBytes: num(f["memory/memory.current"]),
        memoryPeakBytes: num(f["memory/memory.peak"]),
        oomKills: field(f["memory/memory.events"], "oom_kill"),
        cpuUsageNs: field(f["cpu/cpu.stat"], "usage_usec") * 1000,
        pidsCurrent: num(f["pids/pids.current"]),
      }
    : {
        memoryCurrentBytes: num(f["memory/memory.usage_in_bytes"]),
        memoryPeakBytes: num(f["memory/memory.max_usage_in_bytes"]),
        oomKills: field(f["memory/memory.oom_control"], "oom_kill"),
        cpuUsageNs: num(f["cpuacct/cpuacct.usage"]),
        pidsCurrent: num(f["pids/pids.current"]),
      };
}
