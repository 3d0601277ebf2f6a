import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { hostLifecycle } from "../../../provider/reconcile/host";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { parseInput } from "../../../schema/issues";
import { resourceLimitsArgs } from "../../../schema/resource-limits";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

// cgroup v1 here: memory.low is memory.soft_limit_in_bytes, whose "unlimited" the schema cannot hold
const prefix = `${testPrefix}-lrf`;
const host = { connection: { type: "local" }, prefix };

describe("refresh of kernel values the schema cannot hold", () => {
  afterAll(async () => {
    await limitsLifecycle.delete("", { host, name: "n" }).catch(() => undefined);
    await hostLifecycle.delete("", { ...host, runtime: "auto" });
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("an unlimited memory.low reads back as schema-valid inputs, and diff still works", async () => {
    const c = await limitsLifecycle.check({}, { host, name: "n", limits: { memory: { low: "16Mi" }, pids: { max: 50 } } });
    const made = await limitsLifecycle.create(c.inputs!);
    writeFileSync(`/sys/fs/cgroup/memory/${prefix}/n/memory.soft_limit_in_bytes`, "-1");
    // (an emptied v1 cpuset is covered by the unit test: a v1 child's cpus cannot be written on this
    // host, whose cpuset root has clone_children 0, so a cpuset node cannot be made here)
    const read = await limitsLifecycle.read(made.id, made.outs!);
    const parsed = parseInput(resourceLimitsArgs, { host, name: "n", limits: read.props!.limits });
    expect(parsed.ok ? [] : parsed.failures).toEqual([]);
    // the refreshed state diffs against the program (the next up writes the declared values)
    expect(await limitsLifecycle.diff(made.id, read.props!, c.inputs!)).toEqual({ changes: true });
    await limitsLifecycle.update(made.id, read.props!, c.inputs!);
    expect(await limitsLifecycle.diff(made.id, { ...c.inputs!, path: "n" }, c.inputs!)).toEqual({ changes: false });
  });
});
