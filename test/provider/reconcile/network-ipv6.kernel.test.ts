// Dual-stack Networks on the real kernel: addresses (allocated and static, claimed on the host),
// two containers reaching each other over IPv6, the outside through NAT66 (a network namespace of
// the test's own as the upstream, with no route back to the containers' prefix), a published port
// answering on IPv6; and a tenant's IPv6 forgeries from inside with the static probe
// fixtures/probes/spoof6.c (a forged source to the host and to a neighbour, neighbour
// advertisements poisoning the neighbour's entry for the gateway and the host's for the neighbour,
// a router advertisement), each dropped, each arriving with antiSpoofing false (the control).
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
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

const prefix = `${testPrefix}-v6`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const PUBLISHED = 18960;
const PEER_PORT = 18961;
const UP_PORT = 18962;
const HOST_PORT = 18963;
const upstream = `${prefix}-up`;
const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });

let probeDir = "";
const mounts = () => [{ type: "bind", source: probeDir, target: "/probe" }];
const idle = ["sleep", "600"];

async function witness(name: string, mode: string): Promise<() => Promise<string>> {
  const file = `/tmp/witness-${Date.now()}`;
  await cs.exec(name, `/probe/spoof6 ${mode} > ${file} 2>&1 & echo $! > ${file}.pid`);
  for (let i = 0; i < 100 && !(await cs.exec(name, `cat ${file}`)).out.includes("listening"); i++) await sleep(100);
  return async () => {
    await sleep(800);
    return (await cs.exec(name, `kill $(cat ${file}.pid); cat ${file}`)).out;
  };
}

/** The MAC an IPv6 neighbour table holds for an address: inside a container's namespace, or the host's. */
const lladdr = `sed -n 's/.* lladdr \\([0-9a-f:]*\\).*/\\1/p'`;
const neighIn = (pid: unknown, address: string) => sh(`nsenter --net=/proc/${pid}/ns/net ip -6 neigh show ${address} | ${lladdr}`).trim();
const hostNeigh = (address: string, bridge: string) => sh(`ip -6 neigh show ${address} dev ${bridge} | ${lladdr}`).trim();

describe("dual-stack Networks (IPv6 addresses, NAT66, published ports, anti-spoofing)", () => {
  let host: Socket;
  const heard: string[] = [];
  let net: { outs: Props; inputs: Props };
  let attacker: { outs: Props; inputs: Props };
  let neighbour: { outs: Props; inputs: Props };
  let gateway6 = "";
  let bridge = "";
  const macOf = async (name: string) => (await cs.exec(name, "cat /sys/class/net/eth0/address")).out.trim();

  const forwarding = () => readFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "utf8").trim();
  let forwardingWas = "";

  beforeAll(async () => {
    forwardingWas = forwarding();
    probeDir = mkdtempSync(join(tmpdir(), "kslice-probe-"));
    execFileSync("gcc", ["-static", "-O2", "-o", join(probeDir, "spoof6"), join(__dirname, "../../fixtures/probes/spoof6.c")]);
    net = await ns.create("lan", { subnet: "10.236.1.0/24", subnet6: "fd36:1::/64", nat: true });
    gateway6 = net.outs.gateway6 as string;
    bridge = net.outs.bridge as string;
    const on = (extra: Props = {}) => ({ networks: [{ network: ns.ref(net.outs), ...extra }], mounts: mounts(), stopGraceSeconds: 0, command: idle });
    attacker = await cs.create("attacker", on());
    neighbour = await cs.create("neighbour", { ...on({ address6: "fd36:1::99" }), ports: [{ hostPort: PUBLISHED, containerPort: 8080 }] });
    host = createSocket("udp6", (msg, from) => heard.push(`${from.address} ${msg.toString()}`));
    host.bind(HOST_PORT, gateway6);
    await once(host, "listening");
    // the upstream: a namespace of the test's own behind a veth, with no route back to fd36:1::/64
    sh(
      `ip netns add ${upstream} && ip link add tv6up0 type veth peer name up0 netns ${upstream} && ip addr add fd36:ff::1/64 dev tv6up0 nodad && ip link set tv6up0 up && ` +
        `ip -n ${upstream} addr add fd36:ff::2/64 dev up0 nodad && ip -n ${upstream} link set up0 up`,
    );
  }, 120_000);

  afterAll(async () => {
    host?.close();
    sh(`ip link del tv6up0 2>/dev/null; ip netns del ${upstream} 2>/dev/null; true`);
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    rmSync(probeDir, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
    // IPv6 forwarding, on while the dual-stack network lived, is as it was
    expect(forwarding()).toBe(forwardingWas);
  });

  it("gives each container an IPv6 address (allocated or static, claimed on the host) and the link-local one of its MAC", async () => {
    expect(net.outs.gateway6).toBe("fd36:1::1");
    expect(attacker.outs.address6).toBe("fd36:1::2");
    expect(neighbour.outs.address6).toBe("fd36:1::99");
    expect(readFileSync(`/var/lib/${prefix}/networks/lan/addresses/fd36:1::2`, "utf8").trim()).toBe("attacker");
    expect(readFileSync(`/var/lib/${prefix}/networks/lan/addresses/fd36:1::99`, "utf8").trim()).toBe("neighbour");
    const inside = (await cs.exec("attacker", "ip -6 addr show dev eth0; ip -6 route show default")).out;
    expect(inside).toContain("inet6 fd36:1::2/64 scope global");
    // and the link-local address of its MAC alone (no other is generated)
    const mac = (await macOf("attacker")).split(":").map((x) => parseInt(x, 16));
    const ll = `fe80::${((mac[0]! ^ 2) * 256 + mac[1]!).toString(16)}:${mac[2]!.toString(16)}ff:fe${mac[3]!.toString(16).padStart(2, "0")}:${(mac[4]! * 256 + mac[5]!).toString(16)}`;
    expect(inside.match(/inet6 fe80::\S+/g)).toEqual([`inet6 ${ll}/64`]);
    expect(inside).toContain(`default via ${gateway6} dev eth0`);
    expect(sh(`ip -6 addr show dev ${bridge}`)).toContain(`inet6 ${gateway6}/64 scope global`);
    expect(forwarding()).toBe("1");
    // its own name resolves to both addresses (/etc/hosts)
    expect((await cs.exec("attacker", "cat /etc/hosts")).out).toMatch(/fd36:1::2\tattacker/);
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: false });
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
  });

  it("reaches the neighbour and, through NAT66, the outside over IPv6; a published port answers on IPv6", async () => {
    const peer = await witness("neighbour", `listen ${PEER_PORT} 30`);
    expect((await cs.exec("attacker", `/probe/spoof6 say fd36:1::99 ${PEER_PORT} hello-peer`)).code).toBe(0);
    expect(await peer()).toContain("from fd36:1::2 hello-peer");

    const up = sh(`(ip netns exec ${upstream} ${probeDir}/spoof6 listen ${UP_PORT} 4 > ${probeDir}/up.txt 2>&1 &) ; sleep 0.5; echo started`);
    expect(up).toContain("started");
    expect((await cs.exec("attacker", `/probe/spoof6 say fd36:ff::2 ${UP_PORT} hello-upstream`)).code).toBe(0);
    await sleep(4000);
    // masqueraded behind the host's address on the upstream link
    expect(readFileSync(`${probeDir}/up.txt`, "utf8")).toContain("from fd36:ff::1 hello-upstream");

    const served = await witness("neighbour", "serve 8080 30");
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: gateway6, port: PUBLISHED, family: 6 });
      let got = "";
      s.on("data", (d) => (got += d.toString()));
      s.on("end", () => resolve(got));
      s.on("error", reject);
      s.setTimeout(5000, () => reject(new Error("timed out")));
    });
    expect(reply).toMatch(/^hello from fd36:1::1\n/);
    await served();
  });

  const setGuard = async (on: boolean) => {
    const inputs = { ...attacker.inputs, networks: [{ ...(attacker.inputs.networks as Props[])[0], antiSpoofing: on }] };
    const c = await L.check({}, inputs);
    expect(c.failures).toBeUndefined();
    const r = await L.update("", attacker.outs, c.inputs!);
    expect(r.outs!.pid).toBe(attacker.outs.pid);
    attacker = { outs: r.outs!, inputs: c.inputs! };
  };

  async function attack(round: string) {
    const a = attacker.outs.address6 as string;
    const n = neighbour.outs.address6 as string;
    heard.length = 0;
    // the tables to poison hold the right entries first; no route from an earlier round's advertisement
    sh(
      `nsenter --net=/proc/${neighbour.outs.pid}/ns/net sh -c 'ip -6 neigh flush all; ip -6 route flush proto ra; ip -6 route del fd36:ee::/64 2>/dev/null; true'; ip -6 neigh del ${n} dev ${bridge} 2>/dev/null; true`,
    );
    await cs.exec("neighbour", `/probe/spoof6 say ${gateway6} 9 hello`);
    for (let i = 0; i < 50 && (!neighIn(neighbour.outs.pid, gateway6) || !hostNeigh(n, bridge)); i++) await sleep(100);
    const gatewayMac = readFileSync(`/sys/class/net/${bridge}/address`, "utf8").trim();
    const neighbourMac = await macOf("neighbour");
    expect(neighIn(neighbour.outs.pid, gateway6)).toBe(gatewayMac);
    expect(hostNeigh(n, bridge)).toBe(neighbourMac);

    const datagrams = await witness("neighbour", `listen ${PEER_PORT} 60`);
    const run = async (args: string) => expect((await cs.exec("attacker", `/probe/spoof6 ${args}`)).code, args).toBe(0);
    await run(`udp ${n} ${gateway6} ${HOST_PORT} forged-to-host-${round}`);
    await run(`udp fd36:1::77 ${n} ${PEER_PORT} forged-to-peer-${round}`);
    await run(`na ${a} ${gateway6} ${n} ${neighbourMac} 15`);
    await run(`na ${a} ${n} ${gateway6} ${gatewayMac} 15`);
    await run("ra 3");
    await run(`say ${n} ${PEER_PORT} honest-${round}`);
    await run(`say ${gateway6} ${HOST_PORT} honest-${round}`);
    const attackerMac = await macOf("attacker");
    const seen = await datagrams();
    return {
      host: [...heard],
      peer: seen.split("\n").filter((l) => l.startsWith("from ")),
      neighbourGateway: neighIn(neighbour.outs.pid, gateway6),
      hostNeighbour: hostNeigh(n, bridge),
      raRoute: sh(`nsenter --net=/proc/${neighbour.outs.pid}/ns/net ip -6 route show`).includes("fd36:ee::/64"),
      attackerMac,
      gatewayMac,
      neighbourMac,
      a,
      n,
    };
  }

  it("drops forged IPv6 sources, neighbour advertisements for others' addresses and router advertisements; with antiSpoofing false they arrive", async () => {
    const guarded = await attack("guarded");
    expect(guarded.host).toEqual([`${guarded.a} honest-guarded`]);
    expect(guarded.peer).toEqual([`from ${guarded.a} honest-guarded`]);
    expect(guarded.neighbourGateway).toBe(guarded.gatewayMac);
    expect(guarded.hostNeighbour).toBe(guarded.neighbourMac);
    expect(guarded.raRoute).toBe(false);

    await setGuard(false);
    const open = await attack("open");
    expect(open.host).toContain(`${open.n} forged-to-host-open`);
    expect(open.peer).toContain("from fd36:1::77 forged-to-peer-open");
    expect(open.peer).toContain(`from ${open.a} honest-open`);
    expect(open.neighbourGateway).toBe(open.attackerMac);
    expect(open.hostNeighbour).toBe(open.attackerMac);
    expect(open.raRoute).toBe(true);

    await setGuard(true);
    const again = await attack("again");
    expect(again.host).toEqual([`${again.a} honest-again`]);
    expect(again.peer).toEqual([`from ${again.a} honest-again`]);
    expect(again.neighbourGateway).toBe(again.gatewayMac);
    expect(again.raRoute).toBe(false);
  });

  it("flushed IPv6 elements, rules, address or route are drift: the diff shows it and an update restores them", async () => {
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: false });
    sh(`nft flush set bridge ${prefix} addr6`);
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: true });
    attacker = { outs: (await L.update("", attacker.outs, attacker.inputs)).outs!, inputs: attacker.inputs };
    neighbour = { outs: (await L.update("", neighbour.outs, neighbour.inputs)).outs!, inputs: neighbour.inputs };
    forgetReads();
    expect(await L.diff("", attacker.outs, attacker.inputs)).toEqual({ changes: false });
    expect(sh(`nft list set bridge ${prefix} addr6`)).toContain("fd36:1::2");

    // the address and the default route inside, and the published port's IPv6 rule
    sh(`nsenter --net=/proc/${neighbour.outs.pid}/ns/net sh -c 'ip -6 addr flush dev eth0 scope global'`);
    forgetReads();
    expect(await L.diff("", neighbour.outs, neighbour.inputs)).toEqual({ changes: true });
    const pid = neighbour.outs.pid;
    neighbour = { outs: (await L.update("", neighbour.outs, neighbour.inputs)).outs!, inputs: neighbour.inputs };
    expect(neighbour.outs.pid).toBe(pid);
    expect((await cs.exec("neighbour", "ip -6 addr show dev eth0; ip -6 route show default")).out).toMatch(/fd36:1::99\/64[\s\S]*default via fd36:1::1/);
    sh(`nft flush chain ip6 ${prefix} ports`);
    forgetReads();
    expect(await L.diff("", neighbour.outs, neighbour.inputs)).toEqual({ changes: true });
    neighbour = { outs: (await L.update("", neighbour.outs, neighbour.inputs)).outs!, inputs: neighbour.inputs };
    forgetReads();
    expect(await L.diff("", neighbour.outs, neighbour.inputs)).toEqual({ changes: false });

    // the network's NAT66 and its bridge's IPv6 gateway
    sh(`nft flush chain ip6 ${prefix} postrouting; ip -6 addr flush dev ${bridge} scope global`);
    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: true });
    net = { outs: (await N.update("", net.outs, net.inputs)).outs!, inputs: net.inputs };
    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    expect(sh(`nft list chain ip6 ${prefix} postrouting`)).toContain("masquerade");

    // what a reboot leaves (no ip6 table, no gateway6): the network's ensure.sh, which boot.sh runs, brings them back
    sh(`nft delete table ip6 ${prefix}; ip -6 addr flush dev ${bridge} scope global; sh /var/lib/${prefix}/networks/lan/ensure.sh`);
    forgetReads();
    expect(await N.diff("", net.outs, net.inputs)).toEqual({ changes: false });
    // the published port's IPv6 rule went with the table: the container's drift, put back by its net.sh
    expect(await L.diff("", neighbour.outs, neighbour.inputs)).toEqual({ changes: true });
    neighbour = { outs: (await L.update("", neighbour.outs, neighbour.inputs)).outs!, inputs: neighbour.inputs };
    forgetReads();
    expect(await L.diff("", neighbour.outs, neighbour.inputs)).toEqual({ changes: false });
  });

  it("refuses at check overlapping IPv6 prefixes (on the host and in one program), a static address6 already held", async () => {
    const other = await N.check({}, { host: ns.host, name: "other", subnet: "10.236.2.0/24", subnet6: "fd36:1:0:0:8000::/65" });
    expect(other.failures).toEqual([
      { property: "subnet6", reason: expect.stringMatching(/^got "fd36:1:0:0:8000::\/65", which overlaps network lan's fd36:1::\/64 on host /) },
    ]);
    const urn = (n: string) => `urn:pulumi:test::v6::kslice:index:Network::${n}`;
    const first = await N.check({}, { host: ns.host, name: "p1", subnet: "10.236.3.0/24", subnet6: "fd36:3::/64", owner: urn("p1") });
    expect(first.failures).toBeUndefined();
    const second = await N.check({}, { host: ns.host, name: "p2", subnet: "10.236.4.0/24", subnet6: "fd36:3::100/120", owner: urn("p2") });
    expect(second.failures).toEqual([
      { property: "subnet6", reason: expect.stringContaining(`got "fd36:3::100/120", which overlaps the IPv6 prefix of ${urn("p1")} in this program`) },
    ]);
    const taken = await L.check({}, { host: cs.host, name: "thief", command: idle, networks: [{ network: ns.ref(net.outs), address6: "fd36:1::99" }] });
    expect(taken.failures).toEqual([
      {
        property: "networks.0.address6",
        reason:
          'got "fd36:1::99", already the IPv6 address of container neighbour on network lan; give the network a dynamicRange6 that leaves static addresses out, so parallel creates cannot take them',
      },
    ]);
  });
});
