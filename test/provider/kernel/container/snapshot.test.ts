import { describe, expect, it } from "vitest";
import { parseSnapshot } from "../../../../provider/kernel/container/snapshot";

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

  it("takes an empty host (no runtime list, no bundles, no networks)", () => {
    const s = parseSnapshot("null\n@@bundles\n@@networks\n@@addresses\n");
    expect(s.states.size + s.bundles.size + s.networks.size + s.addresses.size).toBe(0);
  });
});
