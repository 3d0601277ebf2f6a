import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

// two prefixes: two teams on one host
const p1 = `${testPrefix}-iso1`;
const p2 = `${testPrefix}-iso2`;
const cs1 = new Containers(p1);
const ns1 = new Networks(p1);
const cs2 = new Containers(p2);
const ns2 = new Networks(p2);
const idle = ["sleep", "600"];
const serve = (text: string) => ["sh", "-c", `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
// busybox 1.35's wget -T segfaults: the applet timeout bounds it instead
// Bounded: 20 s where an answer is expected (the build machine is shared and slow at times), 8 s
// where it must not come (a dropped SYN never gets one).
const fetchIn = (cs: Containers, name: string, url: string) => cs.exec(name, `timeout 20 wget -q -O - ${url}`);
const blocked = async (cs: Containers, name: string, url: string) => (await cs.exec(name, `timeout 8 wget -q -O - ${url}`)).code !== 0;
const localnet = (bridge: string) => readFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, "utf8").trim();
const SECRET_PORT = 18401;
const PUBLISHED = 18402;

let probeDir = "";
let secret: Server | undefined;
const mounts = () => [{ type: "bind", source: probeDir, target: "/probe" }];
/** The raw SYN to 127.0.0.1:port through the bridge's MAC, from inside the container: synack, rst or none. */
async function attack(cs: Containers, container: string, bridge: string, port = SECRET_PORT): Promise<string> {
  const mac = readFileSync(`/sys/class/net/${bridge}/address`, "utf8").trim();
  const r = await cs.exec(container, `/probe/loopback-syn ${mac} 127.0.0.1 ${port}`);
  return r.out.trim();
}

describe("Network isolation against the kernel: the host's loopback, and other prefixes", () => {
  beforeAll(async () => {
    probeDir = mkdtempSync(join(tmpdir(), "kslice-probe-"));
    execFileSync("gcc", ["-static", "-O2", "-o", join(probeDir, "loopback-syn"), join(__dirname, "../../fixtures/probes/loopback-syn.c")]);
    // a host service that trusts its loopback binding
    secret = createServer((s) => s.end("host-secret\n")).listen(SECRET_PORT, "127.0.0.1");
    await once(secret, "listening");
  });

  afterAll(async () => {
    secret?.close();
    for (const [cs, ns] of [
      [cs1, ns1],
      [cs2, ns2],
    ] as const) {
      await cs.cleanup(false);
      await ns.cleanup();
      await cs.deleteHost();
    }
    rmSync(probeDir, { recursive: true, force: true });
    expect(leaksOf(p1)).toEqual([]);
    expect(leaksOf(p2)).toEqual([]);
  });

  let a: { id: string; outs: Props; inputs: Props };
  let brA = "";

  it("a container's SYN to the host's 127.0.0.1 gets no answer; the same probe gets a SYN-ACK with route_localnet=1 and no guard", async () => {
    a = await ns1.create("a", { subnet: "10.241.1.0/24" });
    brA = a.outs.bridge as string;
    await cs1.create("attacker", { command: idle, networks: [{ network: ns1.ref(a.outs) }], mounts: mounts(), stopGraceSeconds: 0 });
    // no published port on the bridge: no route_localnet
    expect(localnet(brA)).toBe("0");
    expect(execFileSync("nft", ["list", "chain", "ip", p1, "guard"], { encoding: "utf8" })).toMatch(/iifname "ks\*" ip daddr 127\.0\.0\.0\/8 drop/);
    expect(await attack(cs1, "attacker", brA)).toBe("none");

    // the probe works: undo kslice's defence by hand (kslice before this fix) and the host answers.
    // Another prefix's guard (another run on this host) drops the probe as well: the control needs
    // the host to itself, and says so rather than fail.
    const others = execFileSync(
      "sh",
      [
        "-c",
        `nft list tables ip | awk '{print $3}' | while read t; do [ "$t" != ${p1} ] && nft list chain ip "$t" guard >/dev/null 2>&1 && echo "$t"; done; true`,
      ],
      { encoding: "utf8" },
    ).trim();
    execFileSync("sh", ["-c", `echo 1 > /proc/sys/net/ipv4/conf/${brA}/route_localnet && nft flush chain ip ${p1} guard`]);
    try {
      if (others) console.warn(`control skipped: the guard chains of ${others.split("\n").join(", ")} drop the probe too`);
      else expect(await attack(cs1, "attacker", brA)).toBe("synack");
    } finally {
      // which is drift: the network's diff sees it and a live update puts the defence back
      forgetReads();
      expect(await N.diff("", a.outs, a.inputs)).toEqual({ changes: true });
      a.outs = (await N.update("", a.outs, a.inputs)).outs!;
    }
    forgetReads();
    expect(await N.diff("", a.outs, a.inputs)).toEqual({ changes: false });
    expect(localnet(brA)).toBe("0");
    expect(await attack(cs1, "attacker", brA)).toBe("none");
  });

  it("a port published to 127.0.0.1 answers there; only its bridge gets route_localnet, while the port lasts; the guard still holds", async () => {
    const b = await ns1.create("b", { subnet: "10.241.2.0/24" });
    const ports = [{ hostPort: PUBLISHED, containerPort: 80, hostAddress: "127.0.0.1" }];
    const pub = await cs1.create("pub", { command: serve("hello-published"), networks: [{ network: "a" }], ports, stopGraceSeconds: 0 });
    expect(localnet(brA)).toBe("1");
    expect(localnet(b.outs.bridge as string)).toBe("0");
    expect((await sh(`timeout 5 busybox wget -q -O - http://127.0.0.1:${PUBLISHED}/`)).out).toContain("hello-published");
    // route_localnet is on, yet the container's SYN to the host's own 127.0.0.1 service is dropped
    expect(await attack(cs1, "attacker", brA)).toBe("none");
    forgetReads();
    expect(await N.diff("", a.outs, a.inputs)).toEqual({ changes: false });
    expect(await L.diff("", pub.outs, pub.inputs)).toEqual({ changes: false });

    // reset by hand: both the container's and the network's diff see it; the container's update repairs it live
    execFileSync("sh", ["-c", `echo 0 > /proc/sys/net/ipv4/conf/${brA}/route_localnet`]);
    forgetReads();
    expect(await N.diff("", a.outs, a.inputs)).toEqual({ changes: true });
    expect(await L.diff("", pub.outs, pub.inputs)).toEqual({ changes: true });
    let outs = (await L.update("", pub.outs, pub.inputs)).outs!;
    expect(outs.pid).toBe(pub.outs.pid);
    expect(localnet(brA)).toBe("1");

    // the port removed (live): route_localnet goes back to 0
    const update = async (next: Props) => {
      const c = await L.check({}, { ...pub.inputs, ...next });
      if (c.failures) throw new Error(JSON.stringify(c.failures));
      outs = (await L.update("", outs, c.inputs!)).outs!;
      if (next.state !== "stopped") expect(outs.pid, "a live change").toBe(pub.outs.pid);
    };
    await update({ ports: [] });
    expect(localnet(brA)).toBe("0");
    // 0.0.0.0 includes 127.0.0.1: on again, and answering there
    await update({ ports: [{ ...ports[0], hostAddress: "0.0.0.0" }] });
    expect(localnet(brA)).toBe("1");
    expect((await sh(`timeout 5 busybox wget -q -O - http://127.0.0.1:${PUBLISHED}/`)).out).toContain("hello-published");
    // a stopped container publishes nothing
    await update({ state: "stopped" });
    expect(localnet(brA)).toBe("0");
    forgetReads();
    expect(await N.diff("", a.outs, a.inputs)).toEqual({ changes: false });
  });

  it("an isolated network is isolated from another prefix's networks; two open networks talk", async () => {
    const c = await ns2.create("c", { subnet: "10.241.3.0/24" });
    const web = await cs2.create("web", { command: serve("hello-other-team"), networks: [{ network: ns2.ref(c.outs) }], stopGraceSeconds: 0 });
    await cs2.create("neighbour", { command: idle, networks: [{ network: "c" }], stopGraceSeconds: 0 });
    const target = await cs1.create("target", { command: serve("hello-team-one"), networks: [{ network: "a" }], stopGraceSeconds: 0 });
    const url2 = `http://${web.outs.address}/`;
    const url1 = `http://${target.outs.address}/`;
    // the host routes between the bridges: only the rules stand in the way
    expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("1");
    // same-network traffic is untouched
    expect((await fetchIn(cs2, "neighbour", url2)).out).toContain("hello-other-team");
    expect((await fetchIn(cs1, "attacker", url1)).out).toContain("hello-team-one");
    // both isolated: neither way
    expect(await blocked(cs1, "attacker", url2)).toBe(true);
    expect(await blocked(cs2, "neighbour", url1)).toBe(true);

    const setIsolated = async (net: typeof a, isolated: boolean) => {
      net.outs = (await N.update("", net.outs, { ...net.inputs, isolated })).outs!;
    };
    try {
      // one isolated side is enough to drop, whichever prefix it belongs to
      await setIsolated(a, false);
      expect(await blocked(cs1, "attacker", url2)).toBe(true);
      expect(await blocked(cs2, "neighbour", url1)).toBe(true);
      await setIsolated(a, true);
      await setIsolated(c, false);
      expect(await blocked(cs1, "attacker", url2)).toBe(true);
      expect(await blocked(cs2, "neighbour", url1)).toBe(true);
      // neither isolated: the host forwards between them (so the drops above were the rules' doing)
      await setIsolated(a, false);
      // (a run of older kslice under another prefix on this shared machine may have put ip_forward back to 0)
      writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
      expect((await fetchIn(cs1, "attacker", url2)).out).toContain("hello-other-team");
      expect((await fetchIn(cs2, "neighbour", url1)).out).toContain("hello-team-one");
    } finally {
      await setIsolated(a, true);
      await setIsolated(c, true);
    }
    expect(await blocked(cs1, "attacker", url2)).toBe(true);
    forgetReads();
    expect(await N.diff("", c.outs, c.inputs)).toEqual({ changes: false });
  });
});
