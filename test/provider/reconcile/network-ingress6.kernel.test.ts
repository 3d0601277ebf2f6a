// Declared ingress over IPv6, attacked from inside real containers on dual-stack Networks: a server
// takes IPv6 connections only from what its rules name (a container, another Network, an IPv6
// CIDR); a stranger on the same bridge is dropped and counted in the server's counter, whether it
// aims at the server's global address or at its link-local one. The control: the same flows all
// pass before the rules exist. Replies, a port published on IPv6 and the host still reach it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import type { Props } from "../../../provider/reconcile/provider-types";
import { PrefixObserver } from "../../../provider/kernel/observe/sample";
import { linkLocalFor } from "../../../provider/kernel/network/names";
import { LocalTransport } from "../../../provider/transport/local";
import { Containers } from "../../helpers/containers";
import { counterPackets, ingressProbes } from "../../helpers/ingress6";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-in6`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const PUBLISHED = 18971;

// every container serves "ok" over HTTP on 8080, 9090 and 7070 (busybox httpd listens on IPv6 and IPv4)
const serve = ["sh", "-c", "mkdir -p /tmp/w && echo ok > /tmp/w/index.html && for p in 8080 9090 7070; do httpd -p $p -h /tmp/w; done; exec sleep 600"];

describe("declared ingress over IPv6 (ip6 table, forward hook, br_netfilter for IPv6 on dual-stack bridges)", () => {
  let lan: { outs: Props; inputs: Props };
  let other: { outs: Props; inputs: Props };
  let plain: { outs: Props; inputs: Props };
  let server: { outs: Props; inputs: Props };
  let stranger: { outs: Props; inputs: Props };
  let serverLinkLocal = "";

  beforeAll(async () => {
    lan = await ns.create("lan", { subnet: "10.196.1.0/24", subnet6: "fd96:1::/64", isolated: false });
    other = await ns.create("other", { subnet: "10.196.2.0/24", subnet6: "fd96:2::/64", isolated: false });
    plain = await ns.create("plain", { subnet: "10.196.3.0/24", isolated: false });
    const on = (n: { outs: Props }) => ({ networks: [{ network: ns.ref(n.outs) }], stopGraceSeconds: 0, command: serve });
    server = await cs.create("server", { ...on(lan), ports: [{ hostPort: PUBLISHED, containerPort: 7070 }] });
    await cs.create("friend", on(lan));
    stranger = await cs.create("stranger", on(lan));
    await cs.create("far", on(other));
    serverLinkLocal = linkLocalFor((await cs.exec("server", "cat /sys/class/net/eth0/address")).out.trim());
  }, 120_000);

  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  // "host" runs the probe on this machine
  const { reaches6, reaches4, ping6, reachesLinkLocal: toLinkLocal } = ingressProbes((from, script) => (from === "host" ? sh(script) : cs.exec(from, script)));
  /** The server's link-local address, through its neighbour's eth0. */
  const reachesLinkLocal = (from: string, port: number) => toLinkLocal(from, serverLinkLocal, port);
  const drops6 = () => counterPackets(execFileSync("nft", ["list", "counter", "ip6", prefix, "ingress_server"], { encoding: "utf8" }));
  const setIngress = async (ingress: unknown) => {
    const c = await L.check({}, { ...server.inputs, ingress });
    expect(c.failures).toBeUndefined();
    const r = await L.update("", server.outs, c.inputs!);
    // live: the same init
    expect(r.outs!.pid).toBe(server.outs.pid);
    server = { outs: r.outs!, inputs: c.inputs! };
  };
  const s6 = () => server.outs.address6 as string;
  /** Every flow the test judges: which pass. */
  const flows = async () => ({
    friend8080: await reaches6("friend", s6(), 8080),
    stranger8080: await reaches6("stranger", s6(), 8080),
    friend9090: await reaches6("friend", s6(), 9090),
    far9090: await reaches6("far", s6(), 9090),
    // an IPv6 CIDR naming the stranger's address lets it in on 7070 over IPv6, never over IPv4
    stranger7070: await reaches6("stranger", s6(), 7070),
    stranger7070v4: await reaches4("stranger", server.outs.address as string, 7070),
    host9090: await reaches6("host", s6(), 9090),
    // the server's own connection out: the reply must come back
    outgoing: await reaches6("server", stranger.outs.address6 as string, 7070),
    friendPing: await ping6("friend", s6()),
    strangerPing: await ping6("stranger", s6()),
    // the link-local address is filtered as the global one: the friend's link-local source is its own
    friendLinkLocal: await reachesLinkLocal("friend", 8080),
    strangerLinkLocal: await reachesLinkLocal("stranger", 8080),
    // a port published on IPv6 (DNAT from the far network's gateway6) is declared access; 7070 itself is not allowed from there
    farPublished: await reaches6("far", other.outs.gateway6 as string, PUBLISHED),
    far7070: await reaches6("far", s6(), 7070),
  });

  it("without rules everything passes over IPv6 (the control); with rules only the declared flows, the rest dropped and counted", async () => {
    const all = {
      friend8080: true,
      stranger8080: true,
      friend9090: true,
      far9090: true,
      stranger7070: true,
      stranger7070v4: true,
      host9090: true,
      outgoing: true,
      friendPing: true,
      strangerPing: true,
      friendLinkLocal: true,
      strangerLinkLocal: true,
      farPublished: true,
      far7070: true,
    };
    expect(await flows()).toEqual(all);

    await setIngress([
      { from: [{ container: "friend" }], ports: [8080] },
      { from: [{ network: "other" }], ports: ["9000-9999"] },
      { from: [{ container: "friend" }], protocol: "icmp" },
      { from: [{ cidr: `${stranger.outs.address6 as string}/128` }], ports: [7070] },
    ]);
    const before = drops6();
    expect(await flows()).toEqual({
      ...all,
      stranger8080: false,
      friend9090: false,
      stranger7070v4: false,
      strangerPing: false,
      strangerLinkLocal: false,
      far7070: false,
    });
    expect(drops6()).toBeGreaterThan(before);
    // what kslice ps --json shows: the ip table's and the ip6 table's drops of the server, summed
    const ip4 = counterPackets(execFileSync("nft", ["list", "counter", "ip", prefix, "ingress_server"], { encoding: "utf8" }));
    expect(ip4).toBeGreaterThan(0);
    const sample = await (await PrefixObserver.open(new LocalTransport(), prefix)).sample();
    expect(sample.ingressDrops.get("server")!.packets).toBeGreaterThanOrEqual(drops6() + ip4 - 1);
    expect(sample.ingressDrops.get("friend")).toBeUndefined();
    console.log(`ingress drop counters of server: ip6 ${drops6()}, ip ${ip4} packets`);
  }, 120_000);

  it("flushed IPv6 elements, rules or bridge option are drift: the diff shows it and an update restores them", async () => {
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: false });
    execFileSync("nft", ["flush", "set", "ip6", prefix, "allow"]);
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toMatchObject({ changes: true });
    server = { outs: (await L.update("", server.outs, server.inputs)).outs!, inputs: server.inputs };
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
    expect(await reaches6("friend", s6(), 8080)).toBe(true);

    execFileSync("nft", ["flush", "chain", "ip6", prefix, "ingress"]);
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: true });
    expect(await reaches6("stranger", s6(), 8080)).toBe(true);
    lan = { outs: (await N.update("", lan.outs, lan.inputs)).outs!, inputs: lan.inputs };
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: false });
    expect(await reaches6("stranger", s6(), 8080)).toBe(false);

    // IPv6 between two ports of the bridge reaches the ip6 hooks only with nf_call_ip6tables (or
    // the module's host-wide switch, which this machine may have on: so the option is read, not the flow)
    const option = `/sys/class/net/${lan.outs.bridge as string}/bridge/nf_call_ip6tables`;
    execFileSync("ip", ["link", "set", "dev", lan.outs.bridge as string, "type", "bridge", "nf_call_ip6tables", "0"]);
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: true });
    lan = { outs: (await N.update("", lan.outs, lan.inputs)).outs!, inputs: lan.inputs };
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: false });
    expect(readFileSync(option, "utf8").trim()).toBe("1");
    expect(await reaches6("stranger", s6(), 8080)).toBe(false);
    expect(await reaches6("friend", s6(), 8080)).toBe(true);
  }, 120_000);

  it("refuses at check a bad IPv6 CIDR, and an IPv6 source where nothing has an IPv6 address, naming the input", async () => {
    const bad = await L.check({}, { ...server.inputs, ingress: [{ from: [{ cidr: "fd96:1::5/64" }], ports: [80] }] });
    expect(bad.failures).toEqual([
      {
        property: "ingress.0.from.0.cidr",
        reason: 'got "fd96:1::5/64"; expected an IPv4 or IPv6 address, or a CIDR with zero host bits, like "10.88.0.0/16" or "fd00:88::/64"',
      },
    ]);
    const v4only = await L.check(
      {},
      { host: cs.host, name: "lonely", command: ["sleep", "1"], networks: [{ network: ns.ref(plain.outs) }], ingress: [{ from: [{ cidr: "fd96::/16" }] }] },
    );
    expect(v4only.failures).toEqual([
      {
        property: "ingress.0.from.0.cidr",
        reason:
          'got "fd96::/16", an IPv6 source, but container lonely has no IPv6 address (none of its networks declares a subnet6); expected an IPv4 address or CIDR, or a subnet6 on the Network',
      },
    ]);
    const net = await N.check({}, { ...plain.inputs, ingress: [{ from: [{ cidr: "10.196.0.0/16" }, { cidr: "::/0" }] }] });
    expect(net.failures).toEqual([
      {
        property: "ingress.0.from.1.cidr",
        reason: 'got "::/0", an IPv6 source, but network plain has no subnet6 (IPv4 only); expected an IPv4 address or CIDR, or a subnet6 on the Network',
      },
    ]);
  }, 60_000);

  it("rules removed: open again over IPv6, the ip6 elements and counter gone", async () => {
    const { ingress: _own, ...rest } = server.inputs;
    const c = await L.check({}, rest);
    server = { outs: (await L.update("", server.outs, c.inputs!)).outs!, inputs: c.inputs! };
    expect(await reaches6("stranger", s6(), 8080)).toBe(true);
    expect(await reachesLinkLocal("stranger", 8080)).toBe(true);
    const table = execFileSync("nft", ["list", "table", "ip6", prefix], { encoding: "utf8" });
    expect(table).not.toContain(`${s6()} .`);
    expect(table).not.toContain("counter ingress_");
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
  }, 60_000);
});
