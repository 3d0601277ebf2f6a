// Declared ingress, attacked from inside real containers: a server on a kslice Network takes
// connections only from what its rules name (a container, another Network); a stranger on the same
// bridge is dropped and counted. The control: the same connections all pass before the rules exist.
// Replies to the server's own connections pass; flushed rules are drift, and an update restores them.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import type { Props } from "../../../provider/reconcile/provider-types";
import { PrefixObserver } from "../../../provider/kernel/observe/sample";
import { LocalTransport } from "../../../provider/transport/local";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-ingress`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);

// every container serves "ok" over HTTP on 8080, 9090 and 7070
const serve = ["sh", "-c", "mkdir -p /tmp/w && echo ok > /tmp/w/index.html && for p in 8080 9090 7070; do httpd -p $p -h /tmp/w; done; exec sleep 600"];

describe("declared ingress (ip table, forward hook, br_netfilter on the prefix's bridges)", () => {
  let lan: { outs: Props; inputs: Props };
  let other: { outs: Props; inputs: Props };
  let server: { outs: Props; inputs: Props };
  let friend: { outs: Props; inputs: Props };
  let stranger: { outs: Props; inputs: Props };

  beforeAll(async () => {
    lan = await ns.create("lan", { subnet: "10.231.7.0/24", isolated: false });
    other = await ns.create("other", { subnet: "10.231.8.0/24", isolated: false });
    const on = (n: { outs: Props }) => ({ networks: [{ network: ns.ref(n.outs) }], stopGraceSeconds: 0, command: serve });
    server = await cs.create("server", { ...on(lan), ports: [{ hostPort: 18471, containerPort: 7070 }] });
    friend = await cs.create("friend", on(lan));
    stranger = await cs.create("stranger", on(lan));
    await cs.create("far", on(other));
  }, 120_000);

  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  /** Whether `from` (a container, or "host") gets "ok" from the server's port within 2 s. */
  const reaches = async (from: string, to: { outs: Props }, port: number) => {
    const get = `timeout 2 wget -q -O - http://${to.outs.address}:${port}/`;
    const r = from === "host" ? await sh(`timeout 2 busybox wget -q -O - http://${to.outs.address}:${port}/`) : await cs.exec(from, get);
    return r.code === 0 && r.out.trim() === "ok";
  };
  const drops = () => {
    const out = execFileSync("nft", ["list", "counter", "ip", prefix, "ingress_server"], { encoding: "utf8" });
    return Number(/packets (\d+)/.exec(out)![1]);
  };
  const setIngress = async (ingress: unknown) => {
    const c = await L.check({}, { ...server.inputs, ingress });
    expect(c.failures).toBeUndefined();
    const r = await L.update("", server.outs, c.inputs!);
    // live: the same init
    expect(r.outs!.pid).toBe(server.outs.pid);
    server = { outs: r.outs!, inputs: c.inputs! };
  };
  /** Every flow the test judges: which pass. */
  const flows = async () => ({
    friend8080: await reaches("friend", server, 8080),
    stranger8080: await reaches("stranger", server, 8080),
    friend9090: await reaches("friend", server, 9090),
    far9090: await reaches("far", server, 9090),
    host9090: await reaches("host", server, 9090),
    // the server's own connection out: the reply must come back
    outgoing: await reaches("server", stranger, 7070),
    friendPing: (await cs.exec("friend", `ping -c1 -W1 ${server.outs.address}`)).code === 0,
    strangerPing: (await cs.exec("stranger", `ping -c1 -W1 ${server.outs.address}`)).code === 0,
    // a published port (DNAT from the far network's gateway) is declared access; 7070 itself is not allowed
    farPublished: await reaches("far", { outs: { address: `${other.outs.gateway}` } }, 18471),
    far7070: await reaches("far", server, 7070),
  });

  it("without rules everything passes (the control); with rules only the declared flows, the rest dropped and counted", async () => {
    const all = {
      friend8080: true,
      stranger8080: true,
      friend9090: true,
      far9090: true,
      host9090: true,
      outgoing: true,
      friendPing: true,
      strangerPing: true,
      farPublished: true,
      far7070: true,
    };
    expect(await flows()).toEqual(all);

    await setIngress([
      { from: [{ container: "friend" }], ports: [8080] },
      { from: [{ network: "other" }], ports: ["9000-9999"] },
      { from: [{ container: "friend" }], protocol: "icmp" },
    ]);
    const before = drops();
    expect(await flows()).toEqual({ ...all, stranger8080: false, friend9090: false, strangerPing: false, far7070: false });
    expect(drops()).toBeGreaterThan(before);
    // what kslice ps --json shows (the same sample)
    const sample = await (await PrefixObserver.open(new LocalTransport(), prefix)).sample();
    expect(sample.ingressDrops.get("server")!.packets).toBeGreaterThanOrEqual(drops() - 1);
    expect(sample.ingressDrops.get("friend")).toBeUndefined();
    console.log(`ingress drop counter of server: ${drops()} packets`);
  }, 120_000);

  it("flushed elements or rules are drift: the diff shows it and an update restores them", async () => {
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: false });
    execFileSync("nft", ["flush", "set", "ip", prefix, "allow"]);
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toMatchObject({ changes: true });
    server = { outs: (await L.update("", server.outs, server.inputs)).outs!, inputs: server.inputs };
    forgetReads();
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
    expect(await reaches("friend", server, 8080)).toBe(true);

    execFileSync("nft", ["flush", "chain", "ip", prefix, "ingress"]);
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: true });
    expect(await reaches("stranger", server, 8080)).toBe(true);
    lan = { outs: (await N.update("", lan.outs, lan.inputs)).outs!, inputs: lan.inputs };
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: false });
    expect(await reaches("stranger", server, 8080)).toBe(false);
    expect(await reaches("friend", server, 8080)).toBe(true);

    // what a boot runs: the network's ensure.sh brings the chain back, the container's net.sh its elements
    execFileSync("nft", ["flush", "chain", "ip", prefix, "ingress"]);
    execFileSync("nft", ["flush", "set", "ip", prefix, "allow"]);
    execFileSync("sh", [`/var/lib/${prefix}/networks/lan/ensure.sh`]);
    execFileSync("sh", [`${server.outs.bundlePath}/net.sh`, String(server.outs.pid)]);
    forgetReads();
    expect(await N.diff("", lan.outs, lan.inputs)).toEqual({ changes: false });
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
    expect(await reaches("stranger", server, 8080)).toBe(false);
    expect(await reaches("friend", server, 8080)).toBe(true);
  }, 120_000);

  it("refuses at check rules naming an unknown container or network, with the input and the value", async () => {
    const c = await L.check({}, { ...server.inputs, ingress: [{ from: [{ container: "ghost" }, { network: "nowhere" }], ports: [80] }] });
    expect(c.failures?.map((f) => f.property)).toEqual(["ingress.0.from.0.container", "ingress.0.from.1.network"]);
    expect(c.failures![0]!.reason).toMatch(/^got "ghost"; no container of that name/);
    const bad = await L.check({}, { ...server.inputs, ingress: [{ from: [{ cidr: "10.0.0.1/8" }], ports: [0] }] });
    expect(bad.failures?.map((f) => f.property)).toEqual(["ingress.0.from.0.cidr", "ingress.0.ports.0"]);
  }, 60_000);

  it("a Network's ingress is the default of its containers without their own: a change is their drift, and an update applies it", async () => {
    const c = await N.check({}, { ...lan.inputs, ingress: [{ from: [{ container: "server" }], ports: [7070] }] });
    expect(c.failures).toBeUndefined();
    lan = { outs: (await N.update("", lan.outs, c.inputs!)).outs!, inputs: c.inputs! };
    forgetReads();
    expect(await L.diff("", friend.outs, friend.inputs)).toMatchObject({ changes: true });
    // the server declares its own: the network's does not apply to it
    expect(await L.diff("", server.outs, server.inputs)).toEqual({ changes: false });
    friend = { outs: (await L.update("", friend.outs, friend.inputs)).outs!, inputs: friend.inputs };
    expect(await reaches("server", friend, 7070)).toBe(true);
    expect(await reaches("stranger", friend, 7070)).toBe(false);
    expect(await reaches("server", friend, 8080)).toBe(false);
  }, 60_000);

  it("rules removed: the network's default applies; with that gone too, open again, the elements and counters gone", async () => {
    const { ingress: _own, ...rest } = server.inputs;
    const c = await L.check({}, rest);
    server = { outs: (await L.update("", server.outs, c.inputs!)).outs!, inputs: c.inputs! };
    expect(await reaches("stranger", server, 8080)).toBe(false);
    const { ingress: _net, ...open } = lan.inputs;
    const n = await N.check({}, open);
    lan = { outs: (await N.update("", lan.outs, n.inputs!)).outs!, inputs: n.inputs! };
    forgetReads();
    for (const x of [server, friend]) {
      expect(await L.diff("", x.outs, x.inputs)).toMatchObject({ changes: true });
      await L.update("", x.outs, x.inputs);
    }
    expect(await reaches("stranger", server, 8080)).toBe(true);
    expect(await reaches("stranger", friend, 8080)).toBe(true);
    const table = execFileSync("nft", ["list", "table", "ip", prefix], { encoding: "utf8" });
    expect(table).not.toContain(`${server.outs.address} .`);
    expect(table).not.toContain("counter ingress_");
  }, 60_000);
});
