// A tenant's forgeries on a kslice Network, from inside a container with the static probe
// fixtures/probes/spoof.c: a forged IPv4 source to the host and to a neighbour, a forged source
// MAC, ARP replies poisoning a neighbour's entry for the gateway, gratuitous ARP poisoning the
// host's entry for a neighbour, IPv6 router advertisements, a DHCP server's reply. Each is dropped; the same probe with
// the attacker's antiSpoofing off gets through (the control, and what a router needs).
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-spoof`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const HOST_PORT = 18461;
const PEER_PORT = 18462;

let probeDir = "";
const mounts = () => [{ type: "bind", source: probeDir, target: "/probe" }];
const idle = ["sleep", "600"];

/** Starts a witness inside a container (spoof listen/sniff, in the background); returns a function that stops it and says what it saw. */
async function witness(name: string, mode: string): Promise<() => Promise<string>> {
  const file = `/tmp/witness-${Date.now()}`;
  await cs.exec(name, `/probe/spoof ${mode} > ${file} 2>&1 & echo $! > ${file}.pid`);
  for (let i = 0; i < 100 && !(await cs.exec(name, `cat ${file}`)).out.includes("listening"); i++) await sleep(100);
  return async () => {
    await sleep(800);
    return (await cs.exec(name, `kill $(cat ${file}.pid); cat ${file}`)).out;
  };
}

/** The MAC a neighbour table holds for an address: /proc/net/arp inside a container, or the host's (ip neigh). */
const arpIn = async (name: string, address: string) => (await cs.exec(name, `awk '$1 == "${address}" { print $4 }' /proc/net/arp`)).out.trim();
const hostArp = (address: string, bridge: string) =>
  execFileSync("sh", ["-c", `ip neigh show ${address} dev ${bridge} | awk '{ print $3 }'`], { encoding: "utf8" }).trim();

describe("anti-spoofing on a Network (bridge family nftables, per-veth set elements)", () => {
  let host: Socket;
  const heard: string[] = [];
  let net: { outs: Props; inputs: Props };
  let attacker: { outs: Props; inputs: Props };
  let neighbour: { outs: Props; inputs: Props };
  let bystander: { outs: Props; inputs: Props };
  let gateway = "";
  let bridge = "";
  const macOf = async (name: string) => (await cs.exec(name, "cat /sys/class/net/eth0/address")).out.trim();

  beforeAll(async () => {
    probeDir = mkdtempSync(join(tmpdir(), "kslice-probe-"));
    execFileSync("gcc", ["-static", "-O2", "-o", join(probeDir, "spoof"), join(__dirname, "../../fixtures/probes/spoof.c")]);
    net = await ns.create("lan", { subnet: "10.238.1.0/24" });
    gateway = net.outs.gateway as string;
    bridge = net.outs.bridge as string;
    const on = { networks: [{ network: ns.ref(net.outs) }], mounts: mounts(), stopGraceSeconds: 0, command: idle };
    attacker = await cs.create("attacker", on);
    neighbour = await cs.create("neighbour", on);
    bystander = await cs.create("bystander", on);
    host = createSocket("udp4", (msg, from) => heard.push(`${from.address} ${msg.toString()}`));
    host.bind(HOST_PORT, gateway);
    await once(host, "listening");
  }, 120_000);

  afterAll(async () => {
    host?.close();
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    rmSync(probeDir, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  });

  const setGuard = async (on: boolean) => {
    const inputs = { ...attacker.inputs, networks: [{ ...(attacker.inputs.networks as Props[])[0], antiSpoofing: on }] };
    const c = await L.check({}, inputs);
    expect(c.failures).toBeUndefined();
    const r = await L.update("", attacker.outs, c.inputs!);
    // live: the same init, its interface kept
    expect(r.outs!.pid).toBe(attacker.outs.pid);
    attacker = { outs: r.outs!, inputs: c.inputs! };
  };

  /** Every forgery once; what reached the host, the neighbour and the neighbour tables. */
  async function attack(round: string) {
    const a = attacker.outs.address as string;
    const n = neighbour.outs.address as string;
    const b = bystander.outs.address as string;
    heard.length = 0;
    // the tables to poison hold the right entries first (the last round may have poisoned them)
    execFileSync("sh", ["-c", `nsenter --net=/proc/${neighbour.outs.pid}/ns/net ip neigh flush all; ip neigh del ${b} dev ${bridge} 2>/dev/null; true`]);
    await cs.exec("neighbour", `/probe/spoof say ${gateway} 9 hello`);
    await cs.exec("bystander", `/probe/spoof say ${gateway} 9 hello`);
    for (let i = 0; i < 50 && (!(await arpIn("neighbour", gateway)) || !hostArp(b, bridge)); i++) await sleep(100);
    const gatewayMac = readFileSync(`/sys/class/net/${bridge}/address`, "utf8").trim();
    const neighbourMac = await macOf("neighbour");
    expect(await arpIn("neighbour", gateway)).toBe(gatewayMac);
    const bystanderMac = await macOf("bystander");
    expect(hostArp(b, bridge)).toBe(bystanderMac);

    const datagrams = await witness("neighbour", `listen ${PEER_PORT} 60`);
    const frames = await witness("neighbour", "sniff 60");
    const run = async (args: string) => expect((await cs.exec("attacker", `/probe/spoof ${args}`)).code, args).toBe(0);
    await run(`udp ${b} ${gateway} ${HOST_PORT} forged-to-host-${round}`);
    await run(`udp ${b} ${n} ${PEER_PORT} forged-to-peer-${round}`);
    await run(`mac 02:00:00:00:be:ef ${neighbourMac} ${n} ${PEER_PORT} forged-mac-${round}`);
    await run(`arp ${gateway} ${n} ${neighbourMac} 15`);
    await run(`garp ${b} 15`);
    await run("ra 3");
    // a DHCP server's reply, from its own address
    await run(`say ${n} ${PEER_PORT} dhcp-${round} 67`);
    // and an honest datagram, which must pass either way
    await run(`say ${n} ${PEER_PORT} honest-${round}`);
    const attackerMac = await macOf("attacker");
    const seen = await datagrams();
    const sniffed = (await frames()).split("\n");
    return {
      host: [...heard],
      peer: seen.split("\n").filter((l) => l.startsWith("from ")),
      forgedMacFrames: sniffed.filter((l) => l.startsWith("frame 02:00:00:00:be:ef ")).length,
      ipv6FromAttacker: sniffed.filter((l) => l === `frame ${attackerMac} 86dd`).length,
      neighbourGateway: await arpIn("neighbour", gateway),
      hostBystander: hostArp(b, bridge),
      attackerMac,
      gatewayMac,
      bystanderMac,
      a,
      b,
    };
  }

  it("drops every forgery and DHCP server reply from a guarded container; with antiSpoofing false the same probes get through", async () => {
    const guarded = await attack("guarded");
    expect(guarded.host).toEqual([]);
    expect(guarded.peer).toEqual([`from ${guarded.a} honest-guarded`]);
    expect(guarded.forgedMacFrames).toBe(0);
    expect(guarded.ipv6FromAttacker).toBe(0);
    expect(guarded.neighbourGateway).toBe(guarded.gatewayMac);
    expect(guarded.hostBystander).toBe(guarded.bystanderMac);
    // the rules counted what they dropped
    expect(execFileSync("nft", ["list", "chain", "bridge", prefix, "guard"], { encoding: "utf8" })).toMatch(/counter packets [1-9]/);

    // the control: the attacker's guard off (kslice's opt-out, live), every forgery arrives
    await setGuard(false);
    const open = await attack("open");
    expect(open.host).toContain(`${open.b} forged-to-host-open`);
    expect(open.peer).toContain(`from ${open.b} forged-to-peer-open`);
    expect(open.peer).toContain(`from ${open.a} honest-open`);
    expect(open.peer).toContain(`from ${open.a} dhcp-open`);
    expect(open.forgedMacFrames).toBeGreaterThan(0);
    expect(open.ipv6FromAttacker).toBeGreaterThan(0);
    expect(open.neighbourGateway).toBe(open.attackerMac);
    expect(open.hostBystander).toBe(open.attackerMac);

    // back on (live): guarded again
    await setGuard(true);
    const again = await attack("again");
    expect(again.host).toEqual([]);
    expect(again.peer).toEqual([`from ${again.a} honest-again`]);
    expect(again.neighbourGateway).toBe(again.gatewayMac);
  });

  it("flushed elements or rules are drift: the diff shows it and an update restores them", async () => {
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: false });
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    execFileSync("nft", ["flush", "set", "bridge", prefix, "ip4"]);
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: true });
    const r = await L.update("", attacker.outs, attacker.inputs);
    expect(r.outs!.pid).toBe(attacker.outs.pid);
    attacker = { outs: r.outs!, inputs: attacker.inputs };
    // the other containers' elements were flushed too: each sees its own drift
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: false });
    expect(await L.diff("", neighbour.outs, neighbour.inputs)).toEqual({ changes: true });
    neighbour = { outs: (await L.update("", neighbour.outs, neighbour.inputs)).outs!, inputs: neighbour.inputs };
    bystander = { outs: (await L.update("", bystander.outs, bystander.inputs)).outs!, inputs: bystander.inputs };

    execFileSync("nft", ["flush", "chain", "bridge", prefix, "guard"]);
    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: true });
    net = { outs: (await N.update("", net.outs, net.inputs)).outs!, inputs: net.inputs };
    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    const after = await attack("restored");
    expect(after.host).toEqual([]);
    expect(after.peer).toEqual([`from ${after.a} honest-restored`]);
    expect(after.neighbourGateway).toBe(after.gatewayMac);
  });

  it("a stopped or deleted container's elements go; an address change leaves no old address allowed", async () => {
    const elements = () => execFileSync("nft", ["list", "table", "bridge", prefix], { encoding: "utf8" });
    const veth = (outs: Props) =>
      execFileSync("sh", ["-c", `grep -l '/container/${outs.name}/' /sys/class/net/ks*/ifalias | cut -d/ -f5`], { encoding: "utf8" }).trim();
    const v = veth(bystander.outs);
    expect(elements()).toContain(`"${v}" . ${bystander.outs.address}`);
    // a new address, live: the old one is no longer the bystander's to send from
    const moved = { ...bystander.inputs, networks: [{ ...(bystander.inputs.networks as Props[])[0], address: "10.238.1.200" }] };
    const c = await L.check({}, moved);
    expect(c.failures).toBeUndefined();
    bystander = { outs: (await L.update("", bystander.outs, c.inputs!)).outs!, inputs: c.inputs! };
    expect(bystander.outs.address).toBe("10.238.1.200");
    expect(elements()).toContain(`"${v}" . 10.238.1.200`);
    expect(elements().match(new RegExp(`"${v}" \\. 10\\.238\\.1\\.`, "g"))).toHaveLength(1);

    const stopped = await L.check({}, { ...bystander.inputs, state: "stopped" });
    bystander = { outs: (await L.update("", bystander.outs, stopped.inputs!)).outs!, inputs: stopped.inputs! };
    expect(elements()).not.toContain(`"${v}"`);
    const va = veth(attacker.outs);
    expect(elements()).toContain(`"${va}"`);
    await L.delete("", attacker.outs);
    expect(elements()).not.toContain(`"${va}"`);
    // what is left: the neighbour's (guarded, mac, ip4)
    expect(elements().match(/"ks[0-9a-f]+"/g) ?? []).toHaveLength(3);
  });
});
