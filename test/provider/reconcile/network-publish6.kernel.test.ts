// A port published on one IPv6 address of the host, on the real kernel: it answers there (from
// the host and from another container), and not on the host's other IPv6 addresses nor over IPv4;
// its claim names the address, so the same port on every address is refused and on another IPv6
// address is not; the flushed rule is drift. The control: a port published on every address
// answers on both IPv6 addresses.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-p6`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const ON_ONE = 18972;
const ON_ALL = 18973;

const serve = ["sh", "-c", "mkdir -p /tmp/w && echo ok > /tmp/w/index.html && httpd -p 8080 -h /tmp/w; exec sleep 600"];

describe("a port published on an IPv6 address of the host", () => {
  let pub: { outs: Props; inputs: Props };
  let alt: { outs: Props; inputs: Props };
  let plain: { outs: Props; inputs: Props };
  let web: { outs: Props; inputs: Props };

  beforeAll(async () => {
    // not isolated: a published port is not reached from another kslice network through an isolated one (README, "Not done")
    pub = await ns.create("pub", { subnet: "10.196.7.0/24", subnet6: "fd96:7::/64", isolated: false });
    alt = await ns.create("alt", { subnet: "10.196.8.0/24", subnet6: "fd96:8::/64", isolated: false });
    plain = await ns.create("plain", { subnet: "10.196.9.0/24" });
    web = await cs.create("web", {
      networks: [{ network: ns.ref(pub.outs) }],
      stopGraceSeconds: 0,
      command: serve,
      // in a notation of its own: the rule and the claim hold the canonical one
      ports: [
        { hostPort: ON_ONE, containerPort: 8080, hostAddress: "FD96:8:0::1" },
        { hostPort: ON_ALL, containerPort: 8080 },
      ],
    });
    await cs.create("client", { networks: [{ network: ns.ref(alt.outs) }], stopGraceSeconds: 0, command: ["sleep", "600"] });
  }, 120_000);

  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  const fromHost = async (hostPart: string, port: number) => {
    const r = await sh(`timeout 2 busybox wget -q -O - http://${hostPart}:${port}/`);
    return r.code === 0 && r.out.trim() === "ok";
  };
  const fromClient = async (hostPart: string, port: number) => {
    const r = await cs.exec("client", `timeout 2 wget -q -O - http://${hostPart}:${port}/`);
    return r.code === 0 && r.out.trim() === "ok";
  };

  it("answers on that address alone, from the host and from another network; a port on every address answers on both", async () => {
    expect(
      {
        one: await fromHost("[fd96:8::1]", ON_ONE),
        otherAddress: await fromHost("[fd96:7::1]", ON_ONE),
        ipv4: await fromHost("10.196.8.1", ON_ONE),
        client: await fromClient("[fd96:8::1]", ON_ONE),
        // the control: published on every address
        allOne: await fromHost("[fd96:8::1]", ON_ALL),
        allOther: await fromHost("[fd96:7::1]", ON_ALL),
        allIPv4: await fromHost("10.196.8.1", ON_ALL),
      },
      "which flows answer",
    ).toEqual({ one: true, otherAddress: false, ipv4: false, client: true, allOne: true, allOther: true, allIPv4: true });
    expect(execFileSync("nft", ["list", "chain", "ip6", prefix, "ports"], { encoding: "utf8" })).toContain(`ip6 daddr fd96:8::1 tcp dport ${ON_ONE} dnat to`);
    expect(execFileSync("nft", ["list", "chain", "ip", prefix, "ports"], { encoding: "utf8" })).not.toContain(`dport ${ON_ONE}`);
    expect(readFileSync(`/var/lib/${prefix}/ports/web`, "utf8")).toContain(`tcp/fd96:8::1/${ON_ONE}`);
    forgetReads();
    expect(await L.diff("", web.outs, web.inputs)).toEqual({ changes: false });
  }, 60_000);

  it("its claim names the address: the port on every address is refused, on another IPv6 address it is not", async () => {
    const on = (hostAddress: string) =>
      L.check(
        {},
        { host: cs.host, name: "other", command: ["sleep", "1"], networks: [{ network: ns.ref(alt.outs) }], ports: [{ hostPort: ON_ONE, hostAddress }] },
      );
    const all = await on("0.0.0.0");
    expect(all.failures).toEqual([{ property: "ports.0.hostPort", reason: `got tcp 0.0.0.0:${ON_ONE}, already published by container web` }]);
    const same = await on("fd96:8:0:0::1");
    expect(same.failures?.map((f) => f.property)).toEqual(["ports.0.hostPort"]);
    expect((await on("fd96:7::1")).failures).toBeUndefined();
    // on a network given by name that has no subnet6
    const v4 = await L.check(
      {},
      { host: cs.host, name: "other", command: ["sleep", "1"], networks: [{ network: "plain" }], ports: [{ hostPort: ON_ONE, hostAddress: "fd96:7::1" }] },
    );
    expect(v4.failures).toEqual([
      {
        property: "ports.0.hostAddress",
        reason: 'got "fd96:7::1", an IPv6 address, but network plain has no subnet6 (IPv4 only); publish on an IPv4 address, or on a dual-stack network',
      },
    ]);
    expect(plain.outs.name).toBe("plain");
  }, 60_000);

  it("a flushed IPv6 port rule is drift: the diff shows it and an update puts it back", async () => {
    execFileSync("nft", ["flush", "chain", "ip6", prefix, "ports"]);
    expect(await fromHost("[fd96:8::1]", ON_ONE)).toBe(false);
    forgetReads();
    expect(await L.diff("", web.outs, web.inputs)).toEqual({ changes: true });
    web = { outs: (await L.update("", web.outs, web.inputs)).outs!, inputs: web.inputs };
    forgetReads();
    expect(await L.diff("", web.outs, web.inputs)).toEqual({ changes: false });
    expect(await fromHost("[fd96:8::1]", ON_ONE)).toBe(true);
  }, 60_000);
});
