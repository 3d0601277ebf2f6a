import { describe, expect, it } from "vitest";
import { v1Mappings } from "../../../../provider/kernel/cgroup/v1/index";
import { v2Mappings } from "../../../../provider/kernel/cgroup/v2/index";
import { parseCounters } from "../../../../provider/kernel/cgroup/counters";

describe("parseCounters", () => {
  it("reads v2's memory.events, pids.events and cpu.stat", () => {
    expect(
      parseCounters(v2Mappings, {
        "memory/memory.events": "low 0\nhigh 12\nmax 5\noom 2\noom_kill 2\noom_group_kill 0",
        "pids/pids.events": "max 7",
        "cpu/cpu.stat": "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 30\nnr_throttled 9\nthrottled_usec 4500",
      }),
    ).toEqual({ oomKills: 2, pidsMaxHits: 7, memoryHighEvents: 12, memoryMaxEvents: 5, cpuThrottledPeriods: 9, cpuThrottledUs: 4500 });
  });

  it("reads v1's memory.oom_control, memory.failcnt, pids.events and cpu.stat (throttled_time in ns)", () => {
    expect(
      parseCounters(v1Mappings, {
        "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3",
        "memory/memory.failcnt": "41",
        "pids/pids.events": "max 4",
        "cpu/cpu.stat": "nr_periods 10\nnr_throttled 6\nthrottled_time 2500000",
      }),
    ).toEqual({ oomKills: 3, pidsMaxHits: 4, memoryHighEvents: null, memoryMaxEvents: 41, cpuThrottledPeriods: 6, cpuThrottledUs: 2500 });
  });

  it("counts 0 for missing files (a controller not mounted)", () => {
    expect(parseCounters(v1Mappings, {})).toEqual({
      oomKills: 0,
      pidsMaxHits: 0,
      memoryHighEvents: null,
      memoryMaxEvents: 0,
      cpuThrottledPeriods: 0,
      cpuThrottledUs: 0,
    });
  });
});
