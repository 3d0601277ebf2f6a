import { describe, expect, it } from "vitest";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { localBlockDevice, localFactsSync } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-adm`;
const host = { connection: { type: "local" }, prefix };
const check = (limits: object) => limitsLifecycle.check({}, { host, name: "x", limits });

// Checks against this host's facts; nothing may be created by a check.
const v1 = localFactsSync().cgroupMode !== "unified";
// what only cgroup v1 cannot express
const v1Only: [object, string, string][] = [
  [{ memory: { high: "1Gi" } }, "limits.memory.high", "cgroup v1 has no memory.high"],
  [{ memory: { swapMax: "1Gi" } }, "limits.memory.swapMax", "set memory.max too"],
];
if (!v1) console.log("[admission] skipped: the cgroup v1 refusals (memory.high, swapMax without max): this host runs cgroup v2");
const device = localBlockDevice();
if (!device) console.log("[admission] skipped: a real block device (none in /sys/block)");

describe("ResourceLimits admission at check", () => {
  it.each<[object, string, string]>([
    [{ cpu: { max: 64 } }, "limits.cpu.max", "got 64 cores; this host has"],
    [{ cpu: { cpuset: { cpus: "0-63" } } }, "limits.cpu.cpuset.cpus", "outside the host's effective CPUs"],
    [{ io: { devices: [{ device: "/dev/nonexistent", readBps: "1Mi" }] } }, "limits.io.devices.0.device", 'got "/dev/nonexistent"; no such block device'],
    [{ io: { devices: [{ device: "250:250", readBps: "1Mi" }] } }, "limits.io.devices.0.device", "no such block device"],
    [{ memory: { low: "100Ti" } }, "limits.memory.low", "exceed the host's memory"],
    ...(v1 ? v1Only : []),
  ])("rejects %j at %s", async (limits, property, reason) => {
    const r = await check(limits);
    expect(r.failures).toEqual([{ property, reason: expect.stringContaining(reason) }]);
    expect(leaksOf(prefix)).toEqual([]);
  });

  it.skipIf(!device)("accepts a real block device of the host by path and resolves it", async () => {
    const r = await check({ io: { devices: [{ device: device!, readBps: "10Mi" }] } });
    expect(r.failures).toBeUndefined();
  });
});
