// A cpuset on a fresh prefix: on v1 a new cgroup's cpus and mems start empty unless its parent
// clones them, and the host's root cpuset often does not (here clone_children is 0), so a
// prefix made without care could give no child any CPU (the write fails with EACCES).
import { existsSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { hostLifecycle } from "../../../provider/reconcile/host";
import { limitsLifecycle as L } from "../../../provider/reconcile/limits";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-cps`;
const host = { connection: { type: "local" }, prefix };
/** The node's cpuset file on this host, v1 (cpuset hierarchy) or v2 (unified). */
const cpusetFile = (path: string, file: string) =>
  [`/sys/fs/cgroup/cpuset/${prefix}/${path}/${file}`, `/sys/fs/cgroup/${prefix}/${path}/${file}`].find((f) => existsSync(f))!;

describe("a cpuset budget on a prefix that does not exist yet", () => {
  afterAll(async () => {
    await L.delete("", { host, name: "inner", parent: "pin" }).catch(() => undefined);
    await L.delete("", { host, name: "pin" }).catch(() => undefined);
    await hostLifecycle.delete("", { ...host, runtime: "auto" });
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("pins a budget and a child below it to CPU 0", async () => {
    const c = await L.check({}, { host, name: "pin", limits: { cpu: { cpuset: { cpus: "0" } } } });
    expect(c.failures).toBeUndefined();
    await L.create(c.inputs!);
    expect(readFileSync(cpusetFile("pin", "cpuset.cpus"), "utf8").trim()).toBe("0");
    const child = await L.check({}, { host, name: "inner", parent: "pin", limits: { pids: { max: 8 } } });
    expect(child.failures).toBeUndefined();
    await L.create(child.inputs!);
    // the child inherits its parent's CPUs (v1: clone_children; v2: the effective set)
    const inner = cpusetFile("pin/inner", existsSync(`/sys/fs/cgroup/cpuset/${prefix}`) ? "cpuset.cpus" : "cpuset.cpus.effective");
    expect(readFileSync(inner, "utf8").trim()).toBe("0");
  });
});
