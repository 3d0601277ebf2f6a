import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readHostFacts } from "../../../provider/kernel/host-facts";
import { LocalTransport } from "../../../provider/transport/local";

describe("readHostFacts on this host", () => {
  it("agrees with uname, nproc, /proc/meminfo and /proc/mounts", async () => {
    const f = await readHostFacts(new LocalTransport());
    expect(f.kernelRelease).toBe(execFileSync("uname", ["-r"], { encoding: "utf8" }).trim());
    expect(f.cpuCount).toBe(Number(execFileSync("nproc", { encoding: "utf8" })));
    expect(f.memoryTotalBytes).toBe(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))![1]) * 1024);
    const mounts = readFileSync("/proc/mounts", "utf8");
    const v1 = / cgroup /.test(mounts);
    const v2 = / cgroup2 /.test(mounts);
    expect(f.cgroupMode).toBe(v1 && v2 ? "hybrid" : v1 ? "legacy" : "unified");
    expect(f.runtimes.find((r) => r.name === "runc")?.version).toBe(/runc version (\S+)/.exec(execFileSync("runc", ["--version"], { encoding: "utf8" }))![1]);
  });
});
