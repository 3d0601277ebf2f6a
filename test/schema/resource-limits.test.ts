import { describe, expect, it } from "vitest";
import { parseInput } from "../../schema/issues";
import { resourceLimitsArgs } from "../../schema/resource-limits";

const host = { connection: { type: "local" } };
const failures = (input: object) => {
  const r = parseInput(resourceLimitsArgs, { host, name: "web", ...input });
  return r.ok ? [] : r.failures;
};

describe("resourceLimitsArgs", () => {
  it("normalizes sizes and keeps unset fields unset", () => {
    const r = parseInput(resourceLimitsArgs, { host, name: "web", limits: { memory: { max: "256Mi", low: 1024 }, cpu: { max: 1.5 } } });
    expect(r.ok && r.value.limits).toEqual({ memory: { max: 268435456, low: 1024 }, cpu: { max: 1.5 } });
  });

  it.each([
    [{ limits: { memory: { max: "12Q" } } }, "limits.memory.max", 'got "12Q", which is not a size; expected e.g. "256Mi"'],
    [{ limits: { memory: { max: "-1Gi" } } }, "limits.memory.max", 'got "-1Gi", which is not a size'],
    [{ limits: { memory: { low: -5 } } }, "limits.memory.low", "got -5, which is not a size"],
    [{ limits: { pids: { max: 1.5 } } }, "limits.pids.max", "got 1.5; expected a whole number"],
    [{ limits: { cpu: { max: 0 } } }, "limits.cpu.max", "expected more than 0 cores"],
    [{ limits: { cpu: { weight: 0 } } }, "limits.cpu.weight", "got 0; expected at least 1"],
    [{ limits: { cpu: { cpuset: { cpus: "0-a" } } } }, "limits.cpu.cpuset.cpus", "expected a CPU or memory-node list"],
    [{ limits: { memroy: { max: "1Gi" } } }, "limits.memroy", 'unknown property "memroy" (a typo?)'],
    [{ limits: { io: { devices: [{ device: "sda" }] } } }, "limits.io.devices.0.device", 'expected "MAJ:MIN" or a block device path'],
    [{ name: "a/b" }, "name", 'no "/"'],
    [{ name: ".." }, "name", 'no "/"'],
    [{ parent: "tenant/../x" }, "parent", 'expected names joined by "/"'],
    [{ onDeleteWithProcesses: "ignore" }, "onDeleteWithProcesses", 'got "ignore"; expected one of "fail", "kill"'],
    [{ host: { connection: { type: "ssh", host: "", privateKey: "k" } } }, "host.connection.host", "expected at least 1 characters"],
    [{ host: { connection: { type: "ssh", host: "h", privateKey: "k", port: 65536 } } }, "host.connection.port", "got 65536; expected at most 65535"],
  ])("rejects %j at %s", (input, property, reason) => {
    const f = failures(input);
    expect(f.map((x) => x.property)).toEqual([property]);
    expect(f[0]!.reason).toContain(reason);
  });
});
