import { describe, expect, it } from "vitest";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-adm`;
const host = { connection: { type: "local" }, prefix };
const check = (limits: object) => limitsLifecycle.check({}, { host, name: "x", limits });

// Checks against this host (2 CPUs, 24 GiB, cgroup v1 hybrid); nothing may be created by a check.
describe("ResourceLimits admission at check", () => {
  it.each([
    [{ cpu: { max: 64 } }, "limits.cpu.max", "got 64 cores; this host has"],
    [{ cpu: { cpuset: { cpus: "0-63" } } }, "limits.cpu.cpuset.cpus", "outside the host's effective CPUs"],
    [{ io: { devices: [{ device: "/dev/nonexistent", readBps: "1Mi" }] } }, "limits.io.devices.0.device", 'got "/dev/nonexistent"; no such block device'],
    [{ io: { devices: [{ device: "250:250", readBps: "1Mi" }] } }, "limits.io.devices.0.device", "no such block device"],
    [{ memory: { low: "100Ti" } }, "limits.memory.low", "exceed the host's memory"],
    [{ memory: { high: "1Gi" } }, "limits.memory.high", "cgroup v1 has no memory.high"],
    [{ memory: { swapMax: "1Gi" } }, "limits.memory.swapMax", "set memory.max too"],
  ])("rejects %j at %s", async (limits, property, reason) => {
    const r = await check(limits);
    expect(r.failures).toEqual([{ property, reason: expect.stringContaining(reason) }]);
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("accepts a real block device by path and resolves it", async () => {
    const r = await check({ io: { devices: [{ device: "/dev/vda", readBps: "10Mi" }] } });
    expect(r.failures).toBeUndefined();
  });
});
