import { describe, expect, it } from "vitest";
import { fileKey } from "../../../../provider/kernel/cgroup/settings";
import { v1Mappings } from "../../../../provider/kernel/cgroup/v1/index";
import { v2Mappings } from "../../../../provider/kernel/cgroup/v2/index";
import { parseUsage, usageFiles } from "../../../../provider/kernel/cgroup/usage";

describe("usage of a cgroup", () => {
  it("parses v2's files", () => {
    expect(
      parseUsage(v2Mappings, {
        "memory/memory.current": "184320\n",
        "memory/memory.peak": "454656",
        "memory/memory.events": "low 0\nhigh 632\nmax 35\noom 1\noom_kill 1\noom_group_kill 0",
        "cpu/cpu.stat": "usage_usec 77890\nuser_usec 1000\nsystem_usec 76890",
        "pids/pids.current": "1",
      }),
    ).toEqual({ memoryCurrentBytes: 184320, memoryPeakBytes: 454656, oomKills: 1, cpuUsageNs: 77890000, pidsCurrent: 1 });
  });

  it("tolerates missing files (memory.peak is new in 5.19; a controller may be off): zero, not an error", () => {
    expect(usageFiles(v2Mappings).map(fileKey)).toContain("memory/memory.peak");
    expect(parseUsage(v2Mappings, { "memory/memory.current": "4096", "memory/memory.peak": undefined })).toEqual({
      memoryCurrentBytes: 4096,
      memoryPeakBytes: 0,
      oomKills: 0,
      cpuUsageNs: 0,
      pidsCurrent: 0,
    });
    expect(parseUsage(v1Mappings, {})).toEqual({ memoryCurrentBytes: 0, memoryPeakBytes: 0, oomKills: 0, cpuUsageNs: 0, pidsCurrent: 0 });
  });
});
