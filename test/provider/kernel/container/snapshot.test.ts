import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  SnapshotCache,
  claimsSnapshotScript,
  parseSnapshot,
  perResource,
  snapshotScript,
  type ContainerSnapshot,
  type PerResourceReads,
} from "../../../../provider/kernel/container/snapshot";
import { hostLayout } from "../../../../provider/kernel/container/layout";

describe("parseSnapshot", () => {
  it("reads runtime states, bundles, log sizes, network records and who holds which address", () => {
    const front = { name: "front", bridge: "ks-front", subnet: "10.1.0.0/24", gateway: "10.1.0.1", bits: 24, nat: true, isolated: true };
    const out = [
      JSON.stringify([{ id: "web", status: "running", pid: 42, created: "t0" }]),
      "@@bundles",
      "web 0",
      "idle 0",
      "web 1234",
      "@@networks",
      `/var/lib/k/networks/front/network.json:${JSON.stringify(front)}`,
      "@@addresses",
      "/var/lib/k/networks/front/addresses/10.1.0.2:web",
      "/var/lib/k/networks/front/addresses/10.1.0.3:idle",
      "/var/lib/k/networks/back/addresses/10.2.0.9:web",
      "",
    ].join("\n");
    const s = parseSnapshot(out);
    expect(s.states.get("web")).toEqual({ id: "web", status: "running", pid: 42, created: "t0" });
    expect([...s.bundles].sort()).toEqual(["idle", "web"]);
    expect(s.logSizes.get("web")).toBe(1234);
    expect(s.networks.get("front")).toEqual(front);
    expect(s.addresses.get("web")).toEqual(
      new Map([
        ["front", "10.1.0.2"],
        ["back", "10.2.0.9"],
      ]),
    );
    expect(s.addresses.get("idle")).toEqual(new Map([["front", "10.1.0.3"]]));
  });

  it("reads every bundle's record (kslice.json) by container", () => {
    const rec = JSON.stringify({ specHash: "ab", owner: "urn:pulumi:s::p::kslice:index:Container::web" });
    const s = parseSnapshot(`null\n@@bundles\nweb 0\n@@networks\n@@addresses\n@@records\n/var/lib/k/containers/web/kslice.json:${rec}\n@@uids\n@@alluids\n`);
    expect(s.records.get("web")).toBe(rec);
    expect(s.records.size).toBe(1);
  });

  it("takes an empty host (no runtime list, no bundles, no networks)", () => {
    const s = parseSnapshot("null\n@@bundles\n@@networks\n@@addresses\n");
    expect(s.states.size + s.bundles.size + s.networks.size + s.addresses.size).toBe(0);
  });
});

describe("claimsSnapshotScript", () => {
  it("run by sh on a prefix's files: bundles, log sizes, runtime ids, networks, addresses, records, damaged records, ranges", () => {
    const base = mkdtempSync(join(tmpdir(), "kslice-snap-"));
    try {
      // paths that a find -path pattern would read as globs
      const layout = {
        ...hostLayout("k"),
        containers: join(base, "c*[1]", "containers"),
        runtimeRoot: join(base, "run?"),
        networks: join(base, "nets"),
        uidRanges: join(base, "uid-ranges"),
      };
      const front = { name: "front", bridge: "ks-front", subnet: "10.1.0.0/24", gateway: "10.1.0.1", bits: 24, nat: true, isolated: true };
      const rec = JSON.stringify({ specHash: "ab", owner: "urn:web" });
      const put = (path: string, text: string) => (mkdirSync(join(path, ".."), { recursive: true }), writeFileSync(path, text));
      put(join(layout.containers, "web", "kslice.json"), rec);
      put(join(layout.containers, "web", "log"), "x".repeat(1234));
      put(join(layout.containers, "web", "rootfs", "deep", "kslice.json"), "not a record");
      put(join(layout.containers, "web", "rootfs", "log"), "y".repeat(99));
      put(join(layout.containers, "idle", "kslice.json"), "");
      put(join(layout.containers, "idle", "start.sh"), "");
      put(join(layout.containers, "idle", "other"), "");
      put(join(layout.runtimeRoot, "web", "state.json"), "{}");
      put(join(layout.networks, "front", "network.json"), `${JSON.stringify(front)}\n`);
      put(join(layout.networks, "front", "addresses", "10.1.0.2"), "web\n");
      put(join(layout.networks, "front", "addresses", "10.1.0.3"), "idle");
      put(join(layout.uidRanges, "3"), "web\n");
      const s = parseSnapshot(execFileSync("sh", ["-c", claimsSnapshotScript(layout)], { encoding: "utf8" }));
      expect([...s.bundles].sort()).toEqual(["idle", "web"]);
      expect(s.logSizes).toEqual(
        new Map([
          ["web", 1234],
          ["idle", 0],
        ]),
      );
      expect([...s.runtimeIds]).toEqual(["web"]);
      expect(s.networks.get("front")).toEqual(front);
      expect(s.addresses).toEqual(
        new Map([
          ["web", new Map([["front", "10.1.0.2"]])],
          ["idle", new Map([["front", "10.1.0.3"]])],
        ]),
      );
      // an empty record has no line: it is among the damaged
      expect(s.records).toEqual(new Map([["web", rec]]));
      expect(new Map([...s.damaged].map(([k, v]) => [k, [...v].sort()]))).toEqual(new Map([["idle", ["kslice.json", "start.sh"]]]));
      expect(s.ranges).toEqual(new Map([["web", 3]]));
      // an empty host: nothing, and no error
      const none = parseSnapshot(
        execFileSync(
          "sh",
          [
            "-c",
            claimsSnapshotScript({
              ...layout,
              containers: join(base, "no"),
              runtimeRoot: join(base, "no"),
              networks: join(base, "no"),
              uidRanges: join(base, "no"),
            }),
          ],
          { encoding: "utf8" },
        ),
      );
      expect(none.bundles.size + none.networks.size + none.records.size + none.ranges.size).toBe(0);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  }, 30_000); // spawns sh, find and awk: seconds under load
});

describe("perResource", () => {
  it("reads its own for the first asker of a snapshot, then once for all the others, falling back when left out", async () => {
    const snap = parseSnapshot("null\n@@bundles\n@@networks\n@@addresses\n");
    const memo: PerResourceReads<Map<string, string>> = new WeakMap();
    let own = 0;
    let all = 0;
    const ask = (name: string, s: ContainerSnapshot = snap) =>
      perResource(
        memo,
        s,
        async () => (own++, `own ${name}`),
        async () => (
          all++,
          new Map([
            ["a", "all a"],
            ["b", "all b"],
          ])
        ),
        (m) => m.get(name),
      );
    expect(await ask("a")).toBe("own a");
    expect(await Promise.all([ask("a"), ask("b"), ask("c")])).toEqual(["all a", "all b", "own c"]);
    expect([own, all]).toEqual([2, 1]);
    // another snapshot (a change was made): asked afresh
    expect(await ask("b", parseSnapshot("null\n@@bundles\n"))).toBe("own b");
    // a caller in a burst (diff, read) reads for all at once, first or not
    const burst = parseSnapshot("null\n@@bundles\n");
    expect(
      await perResource(
        memo,
        burst,
        async () => "own",
        async () => new Map([["a", "all a"]]),
        (m) => m.get("a"),
        true,
      ),
    ).toBe("all a");
  });
});

describe("SnapshotCache", () => {
  const layout = hostLayout("k");
  // a host whose runtime lists one container "web"; the claims script alone never asks the runtime
  const fakeHost = () => {
    const ran: string[] = [];
    const t = {
      run: async (argv: readonly string[]) => {
        const script = argv[2]!;
        ran.push(script === snapshotScript("runc", layout) ? "full" : script === claimsSnapshotScript(layout) ? "claims" : "other");
        const list = script.startsWith("echo null") ? "null" : '[{"id":"web","status":"running","pid":7,"created":"x"}]';
        return { command: "sh", exitCode: 0, timedOut: false, stdout: `${list}\n@@bundles\nweb 0\n@@runtime\nweb\n@@networks\n@@addresses\n`, stderr: "" };
      },
    };
    return { t, ran };
  };

  it("checks and creates read the claims alone; a current full snapshot serves them; a change reads again", async () => {
    const { t, ran } = fakeHost();
    const cache = new SnapshotCache(t, "runc", layout);
    const claims = await cache.claims();
    expect([...claims.bundles, ...claims.runtimeIds]).toEqual(["web", "web"]);
    expect("states" in claims && (claims as ContainerSnapshot).states.size).toBe(0);
    expect(ran).toEqual(["claims"]);
    const full = await cache.get();
    expect(full.states.get("web")?.pid).toBe(7);
    expect(await cache.claims()).toBe(full);
    expect(ran).toEqual(["claims", "full"]);
    cache.invalidate();
    const after = await cache.claims();
    expect(ran).toEqual(["claims", "full", "claims"]);
    // another epoch: reads of every resource made before the change are not reused
    expect(after.epoch).not.toBe(full.epoch);
    expect(full.epoch).toBe(claims.epoch);
  });

  it("a create's claims amend the current claims snapshot: the next check sees them without reading the host", async () => {
    const { t, ran } = fakeHost();
    const cache = new SnapshotCache(t, "runc", layout);
    const before = await cache.get();
    cache.made({ name: "db", record: '{"owner":"o"}', started: true, addresses: new Map([["lan", "10.0.0.2"]]), rangeIndex: 4 });
    const after = await cache.claims();
    expect(ran).toEqual(["full"]);
    expect([...after.bundles].sort()).toEqual(["db", "web"]);
    expect(after.runtimeIds.has("db")).toBe(true);
    expect(after.records.get("db")).toBe('{"owner":"o"}');
    expect(after.addresses.get("db")?.get("lan")).toBe("10.0.0.2");
    expect([after.ranges.get("db"), after.takenRanges.includes(4)]).toEqual([4, true]);
    // the snapshot it amends is left as it was; reads of every resource begin again (a new epoch)
    expect(before.bundles.has("db")).toBe(false);
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.source).toBe(before);
    // the full snapshot (the runtime's list) is read again; a failed change reads the claims again too
    await cache.get();
    cache.invalidate();
    await cache.claims();
    expect(ran).toEqual(["full", "full", "claims"]);
  });

  it("a burst's read of every resource outlives the snapshot's age, not a change", async () => {
    const epoch = {};
    const older = { ...parseSnapshot("null\n@@bundles\n"), epoch };
    const newer = { ...parseSnapshot("null\n@@bundles\n"), epoch }; // read again after 30 s, nothing changed
    const memo: PerResourceReads<Map<string, string>> = new WeakMap();
    let all = 0;
    const ask = (s: ContainerSnapshot) =>
      perResource(
        memo,
        s,
        async () => "own",
        async () => (all++, new Map([["a", "all a"]])),
        (m) => m.get("a"),
        true,
      );
    expect(await ask(older)).toBe("all a");
    expect(await ask(newer)).toBe("all a");
    expect(all).toBe(1);
    expect(await ask({ ...newer, epoch: {} })).toBe("all a");
    expect(all).toBe(2);
  });
});

describe("perResource, a slow read for all", () => {
  it("is idle from when its answer came, not from when it was asked (a read longer than the idle window is not made twice)", async () => {
    vi.useFakeTimers();
    try {
      const snap = { ...parseSnapshot("null\n@@bundles\n"), epoch: {} };
      const memo: PerResourceReads<Map<string, string>> = new WeakMap();
      let all = 0;
      // every namespace of hundreds of containers: longer than the 5 s idle window
      const slow = () =>
        new Promise<Map<string, string>>((resolve) =>
          setTimeout(
            () => (
              all++,
              resolve(
                new Map([
                  ["a", "all a"],
                  ["b", "all b"],
                ]),
              )
            ),
            8000,
          ),
        );
      const ask = (name: string) =>
        perResource(
          memo,
          snap,
          async () => "own",
          slow,
          (m) => m.get(name),
          true,
        );
      const first = ask("a");
      await vi.advanceTimersByTimeAsync(8000);
      expect(await first).toBe("all a");
      // the engine's next diffs come once the first are answered
      await vi.advanceTimersByTimeAsync(100);
      const next = ask("b");
      await vi.advanceTimersByTimeAsync(8000);
      expect(await next).toBe("all b");
      expect(all).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
