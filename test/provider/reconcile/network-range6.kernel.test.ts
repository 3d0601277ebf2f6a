// A dual-stack Network's dynamicRange6 on the real kernel: allocated IPv6 addresses come from the
// range only (claimed on the host, set in the container), a static address6 outside it is still
// taken, a full range refuses the next create, and a changed range applies live to the next one.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-r6`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const idle = ["sleep", "600"];

describe("a dual-stack Network's dynamicRange6", () => {
  let pool: { outs: Props; inputs: Props };
  const on = (extra: Props = {}) => ({ networks: [{ network: ns.ref(pool.outs), ...extra }], stopGraceSeconds: 0, command: idle });
  const claim = (address: string) => readFileSync(`/var/lib/${prefix}/networks/pool/addresses/${address}`, "utf8").trim();

  beforeAll(async () => {
    // two addresses: fd96:5::100 and fd96:5::101
    pool = await ns.create("pool", { subnet: "10.196.5.0/24", subnet6: "fd96:5::/64", dynamicRange6: "fd96:5::100/127" });
  }, 60_000);

  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("allocates from the range only, takes a static address6 outside it, and refuses a create when the range is full", async () => {
    expect(pool.outs.dynamicRange6).toBe("fd96:5::100/127");
    const a = await cs.create("a", on());
    const b = await cs.create("b", on({ address6: "fd96:5::7" }));
    const c = await cs.create("c", on());
    expect([a.outs.address6, b.outs.address6, c.outs.address6]).toEqual(["fd96:5::100", "fd96:5::7", "fd96:5::101"]);
    expect([claim("fd96:5::100"), claim("fd96:5::7"), claim("fd96:5::101")]).toEqual(["a", "b", "c"]);
    expect((await cs.exec("c", "ip -6 addr show dev eth0 scope global")).out).toContain("inet6 fd96:5::101/64");
    // the IPv4 side is not limited by it
    expect(a.outs.address).toBe("10.196.5.2");

    const d = await L.check({}, { host: cs.host, name: "d", ...on() });
    expect(d.failures).toBeUndefined();
    await expect(L.create(d.inputs!)).rejects.toThrow(/network pool \(fd96:5::100\/127\) has no free IPv6 address left/);
    forgetReads();
    expect(await N.diff("", pool.outs, pool.inputs)).toEqual({ changes: false });
  }, 120_000);

  it("a changed dynamicRange6 is an update in place; the next allocation comes from the new range", async () => {
    const c = await N.check({}, { ...pool.inputs, dynamicRange6: "fd96:5::200/127" });
    expect(c.failures).toBeUndefined();
    expect(await N.diff("", pool.outs, c.inputs!)).toMatchObject({ changes: true });
    expect((await N.diff("", pool.outs, c.inputs!)).replaces ?? []).toEqual([]);
    pool = { outs: (await N.update("", pool.outs, c.inputs!)).outs!, inputs: c.inputs! };
    expect(JSON.parse(readFileSync(`/var/lib/${prefix}/networks/pool/network.json`, "utf8")).dynamicRange6).toBe("fd96:5::200/127");
    forgetReads();
    const d = await cs.create("d", on());
    expect(d.outs.address6).toBe("fd96:5::200");
    forgetReads();
    expect(await N.diff("", pool.outs, pool.inputs)).toEqual({ changes: false });
  }, 120_000);

  it("refuses at check a range outside the subnet6 or holding the gateway6, naming the input", async () => {
    const outside = await N.check({}, { host: ns.host, name: "bad", subnet: "10.196.6.0/24", subnet6: "fd96:6::/64", dynamicRange6: "fd96:7::/120" });
    expect(outside.failures).toEqual([{ property: "dynamicRange6", reason: 'got "fd96:7::/120"; expected a range inside the subnet6 fd96:6::/64' }]);
    const gw = await N.check({}, { host: ns.host, name: "bad", subnet: "10.196.6.0/24", subnet6: "fd96:6::/64", dynamicRange6: "fd96:6::/120" });
    expect(gw.failures?.map((f) => f.property)).toEqual(["dynamicRange6"]);
    expect(gw.failures![0]!.reason).toContain("holds the gateway6 fd96:6::1");
  }, 60_000);
});
