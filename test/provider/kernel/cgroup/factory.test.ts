import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createHierarchy } from "../../../../provider/kernel/cgroup/factory";
import { V1Hierarchy } from "../../../../provider/kernel/cgroup/v1/hierarchy";
import { v1Mappings } from "../../../../provider/kernel/cgroup/v1/index";
import { V2Hierarchy } from "../../../../provider/kernel/cgroup/v2/hierarchy";
import { v2Mappings } from "../../../../provider/kernel/cgroup/v2/index";
import { parseFacts } from "../../../../provider/kernel/host-facts";
import type { Transport } from "../../../../provider/transport/transport";

const facts = (name: string) => parseFacts(readFileSync(join(__dirname, "../../../fixtures/facts", `${name}.txt`), "utf8"));
const t = { target: "fake" } as Transport;

describe("createHierarchy (the host's cgroup mode, looked at once)", () => {
  it("a unified host gets the v2 hierarchy: one tree, v2's controllers and files", () => {
    const unified = facts("unified");
    expect(unified.cgroupMode).toBe("unified");
    const h = createHierarchy(t, { ...unified, features: ["cgroup-kill"] }, "ks");
    expect(h).toBeInstanceOf(V2Hierarchy);
    expect(h.version).toBe(2);
    expect(h.controllers).toBe(v2Mappings);
    expect(h.roots()).toEqual(["/sys/fs/cgroup"]);
    expect(h.mount("memory")).toBe("/sys/fs/cgroup");
    expect(h.controllerNames.io).toBe("io");
    expect(h.parentFile("cpuset.cpus")).toBe("cpuset.cpus.effective");
    expect(h.killFile("tenant/web")).toBe("/sys/fs/cgroup/ks/tenant/web/cgroup.kill");
  });

  it("a hybrid host gets the v1 hierarchy: its v2 tree (hugetlb at most) is not used", () => {
    const hybrid = facts("hybrid");
    expect(hybrid.cgroupMode).toBe("hybrid");
    const h = createHierarchy(t, hybrid, "ks");
    expect(h).toBeInstanceOf(V1Hierarchy);
    expect(h.version).toBe(1);
    expect(h.controllers).toBe(v1Mappings);
    expect(h.roots()).toEqual(["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"]);
    expect(h.roots()).not.toContain(hybrid.cgroupV2Mount);
    expect(h.mount("blkio")).toBeUndefined();
    expect(h.controllerNames.io).toBe("blkio");
    expect(h.parentFile("cpuset.cpus")).toBe("cpuset.cpus");
    expect(h.killFile("web")).toBeUndefined();
  });

  it("a legacy host (v1 only) gets the v1 hierarchy, co-mounted controllers sharing one root", () => {
    const legacy = {
      ...facts("hybrid"),
      cgroupMode: "legacy" as const,
      cgroupV2Mount: null,
      cgroupV1Mounts: { cpu: "/sys/fs/cgroup/cpu,cpuacct", cpuacct: "/sys/fs/cgroup/cpu,cpuacct", pids: "/sys/fs/cgroup/pids" },
    };
    const h = createHierarchy(t, legacy, "ks");
    expect(h).toBeInstanceOf(V1Hierarchy);
    expect(h.roots()).toEqual(["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/pids"]);
    expect(h.available()).toEqual(new Set(["cpu", "cpuacct", "pids"]));
  });
});

describe("each controller reports its own usage and counters", () => {
  for (const [version, controllers] of [
    ["v1", v1Mappings],
    ["v2", v2Mappings],
  ] as const) {
    it(`${version}: every field comes from exactly one controller, read from files it lists`, () => {
      const fields = (report: "usage" | "counters") => controllers.flatMap((c) => Object.keys(c[report]?.read({}) ?? {}));
      expect(fields("usage").sort()).toEqual(["cpuUsageNs", "memoryCurrentBytes", "memoryPeakBytes", "oomKills", "pidsCurrent"]);
      expect(fields("counters").sort()).toEqual(["cpuThrottledPeriods", "cpuThrottledUs", "memoryHighEvents", "memoryMaxEvents", "oomKills", "pidsMaxHits"]);
      // a controller given only the files it lists (a number, or "key value" lines) reads every field it reports from them
      const contents = ["7", "oom_kill 7\nmax 7\nhigh 7\nusage_usec 7\nnr_throttled 7\nthrottled_usec 7\nthrottled_time 7000"];
      for (const c of controllers) {
        for (const report of [c.usage, c.counters]) {
          if (!report) continue;
          const reads = contents.map((content) => report.read(Object.fromEntries(report.files.map((f) => [`${f.controller}/${f.file}`, content]))));
          for (const [field, zero] of Object.entries(report.read({}))) {
            if (zero === null) continue;
            expect(Math.max(...reads.map((r) => Number(r[field as keyof typeof r]))), `${version} ${field}`).toBeGreaterThan(0);
          }
        }
      }
    });
  }
});
