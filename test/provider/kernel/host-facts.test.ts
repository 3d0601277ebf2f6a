import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chooseRuntime, managedControllers, parseFacts, splitSections, factsScript } from "../../../provider/kernel/host-facts";

const fixture = (name: string) => readFileSync(join(__dirname, "../../fixtures/facts", `${name}.txt`), "utf8");

describe("parseFacts", () => {
  it("reads a hybrid host: v1 controllers, a v2 tree without controllers", () => {
    const f = parseFacts(fixture("hybrid"));
    expect(f.cgroupMode).toBe("hybrid");
    expect(f.machineId).toBe("3d1219c7c4c5404aaa1f6d2a48adfda4");
    expect(f.cgroupV2Mount).toBe("/sys/fs/cgroup/unified");
    expect(f.cgroupV2Controllers).toEqual([]);
    expect(managedControllers(f)).toEqual(["cpu", "cpuacct", "memory", "pids"]);
    expect(f.memoryTotalBytes).toBe(24683656 * 1024);
    expect(f.cpuCount).toBe(2);
    expect(f.kernelRelease).toBe("6.18.44-fc-v769");
    expect(f.userNamespaces).toBe(true);
    expect(f.runtimes).toEqual([
      { name: "runc", path: "/usr/sbin/runc", version: "1.1.5+ds1" },
      { name: "crun", path: "/usr/bin/crun", version: "1.8.1" },
    ]);
  });

  it("reads a unified host and a missing runtime", () => {
    const f = parseFacts(fixture("unified"));
    expect(f.cgroupMode).toBe("unified");
    expect(f.machineId).toBe(""); // no machine-id: the host is known by its connection
    expect(managedControllers(f)).toEqual(["cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"]);
    expect(f.userNamespaces).toBe(false);
    expect(f.runtimes.map((r) => r.name)).toEqual(["crun"]);
  });

  it("tells legacy from hybrid by the absence of a v2 tree", () => {
    const legacy = fixture("hybrid").replace(/^cgroup2 .*\n/m, "");
    expect(parseFacts(legacy).cgroupMode).toBe("legacy");
  });

  it("the script marks every section the parser expects", () => {
    const names = [...factsScript().matchAll(/echo '@@(\w+)'/g)].map((m) => m[1]);
    expect(Object.keys(splitSections(""))).toEqual(names);
  });
});

describe("chooseRuntime", () => {
  const hybrid = parseFacts(fixture("hybrid"));
  const unified = parseFacts(fixture("unified"));

  it("auto picks runc on hybrid hosts and crun on unified ones", () => {
    expect(chooseRuntime(hybrid, "auto")).toMatchObject({ runtime: { name: "runc" } });
    expect(chooseRuntime(unified, "auto")).toMatchObject({ runtime: { name: "crun" } });
  });

  it("refuses crun on a hybrid host, saying why", () => {
    expect(chooseRuntime(hybrid, "crun")).toEqual({ error: expect.stringContaining("hybrid") });
  });

  it("names the package to install when the runtime is missing", () => {
    expect(chooseRuntime(unified, "runc")).toEqual({ error: expect.stringContaining("apt-get install runc") });
  });
});
