import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CgroupDriver } from "../../../../provider/kernel/cgroup/driver";
import { hostLayout } from "../../../../provider/kernel/container/layout";
import { parseFacts } from "../../../../provider/kernel/host-facts";
import { parseSample, sampleScript } from "../../../../provider/kernel/observe/sample";
import type { Transport } from "../../../../provider/transport/transport";

const fixtures = join(__dirname, "..", "..", "..", "fixtures");
const facts = parseFacts(readFileSync(join(fixtures, "facts", "hybrid.txt"), "utf8"));
// a real sample of this host (cgroup v1): budgets tenant-a (web, worker) and tenant-b (cache), and batch
const prefix = "kslice-tclidemo";
const driver = new CgroupDriver({} as Transport, facts, prefix);
const layout = hostLayout(prefix);

describe("sampleScript", () => {
  it("is one command reading every hierarchy of the prefix, guarded against making the runtime's root", () => {
    const s = sampleScript("runc", layout, driver);
    for (const h of ["cpu", "cpuacct", "memory", "pids"]) expect(s).toContain(`/sys/fs/cgroup/${h}/${prefix}`);
    // each file in every directory of its hierarchy (awk is given each hierarchy's names)
    const wanted = /ks_tree_files='([^']*)'/.exec(s)?.[1]?.split(/\s+/) ?? [];
    for (const f of ["memory.failcnt", "pids.events", "cpu.stat", "memory.oom_control", "pids.max"]) expect(wanted).toContain(f);
    expect(s).toMatch(/if \[ -d \/run\/kslice-tclidemo\/runtime \]; then rt=runc; else rt=true; fi/);
  });
});

describe("parseSample", () => {
  const s = parseSample(readFileSync(join(fixtures, "observe", "sample-v1.txt"), "utf8"), driver, layout);

  it("reads the clock, the runtime's containers and their cgroups", () => {
    expect(s.atMs).toBe(1795952264846);
    expect(s.hostUptimeSeconds).toBeCloseTo(1445.01);
    expect([...s.snapshot.states.keys()].sort()).toEqual(["batch", "cache", "web", "worker"]);
    expect(Object.fromEntries(s.cgroups)).toEqual({ batch: "batch", cache: "tenant-b/cache", web: "tenant-a/web", worker: "tenant-a/worker" });
    expect(Object.fromEntries(s.restarts)).toEqual({ batch: 0, cache: 0, web: 0, worker: 0 });
  });

  it("reads every node's limits, usage and fail counters", () => {
    expect([...s.nodes.keys()]).toEqual(["batch", "tenant-a", "tenant-a/web", "tenant-a/worker", "tenant-b", "tenant-b/cache"]);
    const worker = s.nodes.get("tenant-a/worker")!;
    expect(worker.limits.memory?.max).toBe(64 * 2 ** 20);
    expect(worker.limits.cpu?.max).toBe(0.25);
    expect(worker.limits.pids?.max).toBe(16);
    expect(worker.usage.pidsCurrent).toBe(1);
    expect(worker.counters.cpuThrottledPeriods).toBeGreaterThan(0);
    expect(worker.counters.memoryHighEvents).toBeNull();
    expect(s.nodes.get("batch")!.limits.memory?.max).toBe("max");
    expect(s.nodes.get("batch")!.usage.pidsCurrent).toBe(7);
  });
});

describe("the sample's migration and draining records", () => {
  const fixture = readFileSync(join(fixtures, "observe", "sample-v1.txt"), "utf8");
  const withRecords = (lines: string[]) => fixture.replace("@@sample-tree", `@@sample-records\n${lines.join("\n")}\n@@sample-tree`);

  it("is read by the same one command", () => {
    expect(sampleScript("runc", layout, driver)).toContain(`grep -H . /var/lib/${prefix}/containers/*/migration.json /var/lib/${prefix}/draining/*`);
  });

  it("keeps each bundle's migration.json and each draining record as written, by container and by file", () => {
    const move = '{"phase":"started","result":{"from":"a","to":"b"}}';
    const s = parseSample(
      withRecords([
        `/var/lib/${prefix}/containers/web/migration.json:${move}`,
        // pretty-printed by hand: its lines are put back together
        `/var/lib/${prefix}/containers/cache/migration.json:{`,
        `/var/lib/${prefix}/containers/cache/migration.json:  "phase": "copying"`,
        `/var/lib/${prefix}/containers/cache/migration.json:}`,
        `/var/lib/${prefix}/draining/fleet%2Fdev:{"owner":"urn:pulumi:dev::fleet::kslice:index:Host::h"}`,
        `/var/lib/${prefix}/draining/broken:not json`,
      ]),
      driver,
      layout,
    );
    expect(Object.fromEntries(s.migrations)).toEqual({ web: move, cache: '{\n  "phase": "copying"\n}' });
    expect(Object.fromEntries(s.draining)).toEqual({ "fleet%2Fdev": '{"owner":"urn:pulumi:dev::fleet::kslice:index:Host::h"}', broken: "not json" });
    // a sample from an older kslice has no such section
    const old = parseSample(fixture, driver, layout);
    expect(old.migrations.size + old.draining.size).toBe(0);
  });
});
