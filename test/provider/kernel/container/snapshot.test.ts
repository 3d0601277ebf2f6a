import { describe, expect, it } from "vitest";
import { parseSnapshot, perResource, type ContainerSnapshot, type PerResourceReads } from "../../../../provider/kernel/container/snapshot";

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
    expect(s.addresses.get("web")).toEqual(new Map([["front", "10.1.0.2"], ["back", "10.2.0.9"]]));
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

describe("perResource", () => {
  it("reads its own for the first asker of a snapshot, then once for all the others, falling back when left out", async () => {
    const snap = parseSnapshot("null\n@@bundles\n@@networks\n@@addresses\n");
    const memo: PerResourceReads<Map<string, string>> = new WeakMap();
    let own = 0;
    let all = 0;
    const ask = (name: string, s: ContainerSnapshot = snap) =>
      perResource(memo, s, async () => (own++, `own ${name}`), async () => (all++, new Map([["a", "all a"], ["b", "all b"]])), (m) => m.get(name));
    expect(await ask("a")).toBe("own a");
    expect(await Promise.all([ask("a"), ask("b"), ask("c")])).toEqual(["all a", "all b", "own c"]);
    expect([own, all]).toEqual([2, 1]);
    // another snapshot (a change was made): asked afresh
    expect(await ask("b", parseSnapshot("null\n@@bundles\n"))).toBe("own b");
    // a caller in a burst (diff, read) reads for all at once, first or not
    const burst = parseSnapshot("null\n@@bundles\n");
    expect(await perResource(memo, burst, async () => "own", async () => new Map([["a", "all a"]]), (m) => m.get("a"), true)).toBe("all a");
  });
});
