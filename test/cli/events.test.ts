import { describe, expect, it } from "vitest";
import { diffEvents, initialEvents } from "../../cli/events";
import { diskFull, type ContainerView, type MigrationView, type PrefixView } from "../../cli/model";
import { diskCell, pressureOrder } from "../../cli/top";

const failures = { oomKills: 0, pidsMaxHits: 0, memoryHighEvents: null, memoryMaxEvents: 0, cpuThrottledPeriods: 0, cpuThrottledUs: 0 };
function container(name: string, over: Partial<ContainerView> = {}): ContainerView {
  return {
    name,
    cgroup: name,
    status: "running",
    pid: 100,
    createdAt: null,
    uptimeSeconds: 1,
    addresses: {},
    ports: [],
    owner: null,
    stack: null,
    restarts: 0,
    damaged: [],
    disk: null,
    ingressDrops: null,
    lastMigration: null,
    memory: { currentBytes: 0, peakBytes: 0, maxBytes: null, highBytes: null },
    cpu: { usageNs: 0, percent: 0, maxCores: null },
    pids: { current: 1, max: null },
    failures,
    ...over,
  };
}
const view = (containers: ContainerView[], at = "2026-01-01T00:00:00.000Z"): PrefixView => ({
  host: "local",
  prefix: "p",
  cgroupVersion: 2,
  runtime: "crun",
  sampledAt: at,
  intervalSeconds: null,
  drainingStacks: [],
  draining: false,
  containers,
  budgets: [],
  networks: [],
});

describe("events", () => {
  it("a first sample tells each container's state and the counters so far", () => {
    const evs = initialEvents(view([container("a", { failures: { ...failures, oomKills: 2 } }), container("b", { restarts: 1 })]));
    expect(evs.map((e) => `${e.name} ${e.kind} ${e.count ?? ""}`)).toEqual(["a present ", "a oom-kill 2", "b present ", "b restarted 1"]);
  });

  it("between two samples: creation, removal, stop, new pid, restarts and counter rises", () => {
    const before = view([container("gone"), container("stops"), container("same", { pid: 5 }), container("r"), container("ooms")]);
    const after = view([
      container("stops", { status: "stopped", pid: null }),
      container("same", { pid: 6 }),
      container("r", { restarts: 2, pid: 9 }),
      container("ooms", { failures: { ...failures, oomKills: 3, memoryMaxEvents: 4, pidsMaxHits: 1 } }),
      container("new"),
    ]);
    const evs = diffEvents(before, after).map((e) => `${e.name} ${e.kind} ${e.count ?? ""}`.trim());
    expect(evs.sort()).toEqual(
      ["gone removed", "new created", "ooms memory-max 4", "ooms oom-kill 3", "ooms pids-max 1", "r restarted 2", "same new-pid", "stops stopped"].sort(),
    );
  });

  it("records a power loss left empty: said in a first sample, when found, and when up rewrote them", () => {
    expect(
      initialEvents(view([container("w", { status: "absent", pid: null, damaged: ["kslice.json", "start.sh"] })])).map((e) => `${e.kind} ${e.detail}`),
    ).toEqual([
      "present absent",
      "damaged records empty or unreadable (kslice.json, start.sh): not started at boot; the next pulumi up rewrites them, keeping its writable layer",
    ]);
    const sound = view([container("w")]);
    const damaged = view([container("w", { damaged: ["config.json"] })]);
    expect(diffEvents(sound, damaged).map((e) => e.kind)).toEqual(["damaged"]);
    expect(diffEvents(damaged, sound).map((e) => `${e.kind} ${e.detail}`)).toEqual(["repaired records rewritten (config.json)"]);
  });

  it("a disk image seen full: once when it fills (edge), again only after it was seen free; inodes too", () => {
    const disk = (availBytes: number, inodesFree = 1000) => ({
      usedBytes: 63 << 20,
      maxBytes: 64 << 20,
      availBytes,
      inodesUsed: 24,
      inodes: 1024,
      inodesFree,
      full: false,
    });
    const d = (availBytes: number, inodesFree?: number) => {
      const x = disk(availBytes, inodesFree);
      return { ...x, full: diskFull(x) };
    };
    const roomy = view([container("w", { disk: d(8 << 20) }), container("n", { disk: d(8 << 20) })]);
    const full = view([container("w", { disk: d(598 << 10) }), container("n", { disk: d(8 << 20) })]);
    const noInode = view([container("w", { disk: d(8 << 20, 0) }), container("n", { disk: d(8 << 20) })]);
    expect(diffEvents(roomy, full).map((e) => `${e.name} ${e.kind}`)).toEqual(["w disk-full"]);
    expect(diffEvents(roomy, full)[0]!.detail).toMatch(/^disk image full: 598Ki left, 63Mi\/64Mi used; writes fail with ENOSPC \(sampled\)$/);
    expect(diffEvents(full, full)).toEqual([]);
    expect(diffEvents(full, roomy).map((e) => `${e.name} ${e.kind}`)).toEqual(["w disk-free"]);
    expect(diffEvents(roomy, noInode).map((e) => `${e.name} ${e.kind} ${e.detail}`)).toEqual([
      expect.stringMatching(/^w disk-full disk image full: no inode left \(24\/1024\)/),
    ]);
    expect(
      initialEvents(full)
        .filter((e) => e.kind.startsWith("disk"))
        .map((e) => e.name),
    ).toEqual(["w"]);
    expect(initialEvents(roomy).filter((e) => e.kind.startsWith("disk"))).toEqual([]);
  });

  it("a counter that went down is a cgroup made anew: it counts from zero", () => {
    const before = view([container("a", { failures: { ...failures, oomKills: 5 } })]);
    const after = view([container("a", { failures: { ...failures, oomKills: 1 } })]);
    expect(diffEvents(before, after).map((e) => [e.kind, e.count])).toEqual([["oom-kill", 1]]);
  });
});

describe("top's order", () => {
  it("puts the most pressed first at each level of the budget tree", () => {
    const v = view([
      container("low", { cgroup: "t/low", pids: { current: 1, max: 100 } }),
      container("high", { cgroup: "t/high", pids: { current: 9, max: 10 } }),
      container("free", { memory: { currentBytes: 10, peakBytes: 10, maxBytes: 100, highBytes: null } }),
    ]);
    v.budgets = [{ path: "t", parent: null, containers: ["low", "high"], ...container("t", { pids: { current: 10, max: 20 } }) }];
    expect(pressureOrder(v).map((i) => `${"  ".repeat(i.depth)}${i.budget?.path ?? i.container!.name}`)).toEqual(["t", "  high", "  low", "free"]);
    // a budget under little pressure of its own comes first when a member is pressed
    v.budgets[0]!.pids = { current: 10, max: 1000 };
    v.containers[2]!.memory.currentBytes = 85;
    expect(pressureOrder(v).map((i) => i.budget?.path ?? i.container!.name)).toEqual(["t", "high", "low", "free"]);
    v.containers[1]!.pids.current = 1;
    expect(pressureOrder(v).map((i) => i.budget?.path ?? i.container!.name)).toEqual(["free", "t", "high", "low"]);
  });
});

describe("top's disk cell", () => {
  it("shows a container's image against its limit, FULL when seen full, and - without a limit", () => {
    const d = { usedBytes: 63 << 20, maxBytes: 64 << 20, availBytes: 598 << 10, inodesUsed: 24, inodes: 1024, inodesFree: 1000, full: true };
    expect(diskCell(container("w", { disk: d }))).toMatch(/^disk \[#+\.*\] 63Mi\/64Mi FULL$/);
    expect(diskCell(container("w", { disk: { ...d, full: false } }))).toMatch(/^disk \[#+\.*\] 63Mi\/64Mi$/);
    expect(diskCell(container("n"))).toBe("disk -");
  });

  it("packets dropped by declared ingress: their total in a first sample, each rise later", () => {
    const c = (packets: number | null) => container("db", { ingressDrops: packets === null ? null : { packets, bytes: packets * 60 } });
    expect(initialEvents(view([c(3)])).filter((e) => e.kind === "ingress-drop")).toMatchObject([{ name: "db", count: 3 }]);
    expect(initialEvents(view([c(0), c(null)])).filter((e) => e.kind === "ingress-drop")).toEqual([]);
    expect(diffEvents(view([c(3)]), view([c(5)])).filter((e) => e.kind === "ingress-drop")).toMatchObject([
      { name: "db", count: 2, detail: "2 packet(s) dropped by its ingress rules (5 in all)" },
    ]);
    expect(diffEvents(view([c(5)]), view([c(5)])).filter((e) => e.kind === "ingress-drop")).toEqual([]);
  });
});

describe("migrations", () => {
  const record: MigrationView = {
    from: "local (prefix kslice-a)",
    to: "local (prefix kslice-b)",
    mode: "cold",
    downtimeMs: 412,
    bytes: 3 << 20,
    precopyBytes: 2 << 20,
    templateBuilt: false,
    at: "2026-01-01T00:00:00.000Z",
  };
  const moved = (over: Partial<MigrationView> = {}) => container("web", { lastMigration: { ...record, ...over } });

  it("a first sample tells the migration that brought a container, once; a new record is told again", () => {
    expect(initialEvents(view([moved(), container("stay")])).filter((e) => e.kind === "migrated")).toEqual([
      {
        at: "2026-01-01T00:00:00.000Z",
        object: "container",
        name: "web",
        kind: "migrated",
        detail: "migrated here from local (prefix kslice-a) at 2026-01-01T00:00:00.000Z (cold), downtime 412 ms, 3Mi moved (2Mi while it ran)",
      },
    ]);
    expect(diffEvents(view([moved()]), view([moved()]))).toEqual([]);
    const again = diffEvents(
      view([moved()]),
      view([moved({ at: "2026-01-02T00:00:00.000Z", from: "h2", downtimeMs: null, precopyBytes: 0, templateBuilt: true })]),
    );
    expect(again.map((e) => `${e.kind} ${e.detail}`)).toEqual([
      "migrated migrated here from h2 at 2026-01-02T00:00:00.000Z (cold), not started, 3Mi moved, template built here first",
    ]);
    // a container that appears between two samples with a record (it was just moved here)
    expect(diffEvents(view([]), view([moved()])).map((e) => e.kind)).toEqual(["created", "migrated"]);
    // a record that went (a new container of the name) says nothing by itself
    expect(diffEvents(view([moved()]), view([container("web")]))).toEqual([]);
  });
});
