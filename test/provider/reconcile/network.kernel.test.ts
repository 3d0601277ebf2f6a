import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-net`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const serve = (text: string) => ["sh", "-c", `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
const idle = ["sleep", "600"];
/** Bounded HTTP GET from inside a container (5 s). */
// busybox 1.35's wget -T segfaults: the applet timeout bounds it instead
const fetchIn = (name: string, url: string) => cs.exec(name, `timeout 5 wget -q -O - ${url}`);

describe("Networks against the kernel (bridges, veths, nftables, tc)", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  let front: Awaited<ReturnType<Networks["create"]>>;
  let back: Awaited<ReturnType<Networks["create"]>>;

  it("creates a bridge with its gateway, rules and record", async () => {
    front = await ns.create("front", { subnet: "10.231.1.0/24", nat: true });
    back = await ns.create("back", { subnet: "10.231.2.0/24" });
    const br = front.outs.bridge as string;
    expect(br).toMatch(/^ks/);
    expect(front.outs).toMatchObject({ gateway: "10.231.1.1", prefixLength: 24, status: "up" });
    expect(execFileSync("ip", ["-o", "-4", "addr", "show", "dev", br], { encoding: "utf8" })).toContain("10.231.1.1/24");
    expect(readFileSync(`/sys/class/net/${br}/ifalias`, "utf8").trim()).toBe(`${prefix}/network/front`);
    const table = execFileSync("nft", ["list", "table", "ip", prefix], { encoding: "utf8" });
    expect(table).toContain(`ip saddr 10.231.1.0/24 oifname != "${br}" masquerade`);
    expect(table).toContain(`iifname "${br}" oifname @bridges oifname != "${br}" drop`);
    expect(await N.diff("", front.outs, front.inputs)).toEqual({ changes: false });
  });

  it("two containers on one network reach each other; another network's cannot; no network is loopback only", async () => {
    const web = await cs.create("web", { command: serve("hello-front"), networks: [{ network: ns.ref(front.outs) }], stopGraceSeconds: 0 });
    await cs.create("client", { command: idle, networks: [{ network: "front" }], stopGraceSeconds: 0 });
    await cs.create("stranger", { command: idle, networks: [{ network: ns.ref(back.outs), address: "10.231.2.50" }], stopGraceSeconds: 0 });
    await cs.create("alone", { command: idle, stopGraceSeconds: 0 });
    expect(web.outs.address).toBe("10.231.1.2");
    expect(web.outs.addresses).toEqual({ front: "10.231.1.2" });
    const r = await fetchIn("client", "http://10.231.1.2/");
    expect(r.out).toContain("hello-front");
    expect(r.code).toBe(0);
    // the stranger has a route (via its gateway, the host forwards) but the isolation rule drops it
    expect((await cs.exec("stranger", "ip -o -4 addr show dev eth0")).out).toContain("10.231.2.50/24");
    const blocked = await fetchIn("stranger", "http://10.231.1.2/");
    expect(blocked.code).not.toBe(0);
    const alone = await cs.exec("alone", "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
    expect(alone.out.trim().split("\n")).toEqual(["lo"]);
  });

  it("isolation is the rule's doing: with both networks open the stranger gets through (a live change)", async () => {
    const f = await N.update("", front.outs, { ...front.inputs, isolated: false });
    const b = await N.update("", back.outs, { ...back.inputs, isolated: false });
    try {
      expect((await fetchIn("stranger", "http://10.231.1.2/")).out).toContain("hello-front");
    } finally {
      front.outs = (await N.update("", f.outs!, front.inputs)).outs!;
      back.outs = (await N.update("", b.outs!, back.inputs)).outs!;
    }
    expect((await fetchIn("stranger", "http://10.231.1.2/")).code).not.toBe(0);
  });

  it("a published port answers on 127.0.0.1", async () => {
    await cs.create("pub", { command: serve("hello-published"), networks: [{ network: "front" }], ports: [{ hostPort: 18931, containerPort: 80, hostAddress: "127.0.0.1" }], stopGraceSeconds: 0 });
    const r = await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18931/");
    expect(r.out).toContain("hello-published");
  });

  it("drift (address removed, veth deleted, rule flushed) shows in read and a live update repairs it", async () => {
    const c = (await L.check({}, { host: cs.host, name: "pub", command: serve("hello-published"), networks: [{ network: "front" }], ports: [{ hostPort: 18931, containerPort: 80, hostAddress: "127.0.0.1" }], stopGraceSeconds: 0 })).inputs!;
    forgetReads();
    let outs = (await L.read("", { ...c, pid: 0 })).props!;
    expect(await L.diff("", outs, c)).toEqual({ changes: false });
    const pid = outs.pid as number;
    const inNs = (cmd: string) => execFileSync("nsenter", [`--net=/proc/${pid}/ns/net`, "sh", "-c", cmd], { encoding: "utf8" });
    const veth = () => execFileSync("sh", ["-c", `grep -l '^${prefix}/container/pub/' /sys/class/net/ks*/ifalias | cut -d/ -f5`], { encoding: "utf8" }).trim();

    const repaired = async (what: string) => {
      forgetReads();
      expect(await L.diff("", outs, c), what).toEqual({ changes: true });
      const seen = (await L.read("", outs)).props!;
      outs = (await L.update("", seen, c)).outs!;
      expect(outs.pid, `${what}: repaired without a restart`).toBe(pid);
      forgetReads();
      expect(await L.diff("", outs, c), `${what}: nothing left to do`).toEqual({ changes: false });
      expect((await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18931/")).out, what).toContain("hello-published");
      return seen;
    };

    inNs("ip addr flush dev eth0");
    expect((await repaired("address removed")).networks).toEqual([]);
    expect(inNs("ip -o -4 addr show dev eth0")).toContain(`${outs.address}/24`);

    const before = veth();
    execFileSync("ip", ["link", "del", "dev", before]);
    expect((await repaired("veth deleted")).networks).toEqual([]);
    expect(veth()).toBe(before);

    execFileSync("nft", ["flush", "chain", "ip", prefix, "ports"]);
    expect((await sh("timeout 3 busybox wget -q -O - http://127.0.0.1:18931/")).code).not.toBe(0);
    expect((await repaired("port rule flushed")).ports).toEqual([]);
  });

  it("writes resolv.conf and hosts as declared and changes them live", async () => {
    const dns = { nameservers: ["192.0.2.53"], search: ["corp.example"], options: ["ndots:2"] };
    const { inputs, outs } = await cs.create("named", { command: idle, hostname: "named-1", networks: [{ network: "front" }], dns, hosts: { "db.internal": "10.231.1.200" }, stopGraceSeconds: 0 });
    expect((await cs.exec("named", "cat /etc/resolv.conf")).out).toMatch(/nameserver 192\.0\.2\.53\nsearch corp\.example\noptions ndots:2/);
    const hosts = (await cs.exec("named", "cat /etc/hosts")).out;
    expect(hosts).toContain(`${outs.address}\tnamed-1`);
    expect(hosts).toContain("10.231.1.200\tdb.internal");
    // read-only inside
    expect((await cs.exec("named", "echo x >> /etc/hosts")).code).not.toBe(0);
    const next = { ...inputs, dns: { nameservers: ["192.0.2.54"] } };
    const up = (await L.update("", outs, (await L.check({}, next)).inputs!)).outs!;
    expect(up.pid).toBe(outs.pid);
    expect((await cs.exec("named", "cat /etc/resolv.conf")).out).toContain("nameserver 192.0.2.54");
  });

  it("shapes a container's traffic with tc, live", async () => {
    const big = ["sh", "-c", "mkdir -p /www && head -c 262144 /dev/zero > /www/big && exec httpd -f -p 80 -h /www"];
    const { inputs, outs } = await cs.create("slow", { command: big, networks: [{ network: "front", bandwidth: { ingress: "2mbit", egress: "1mbit" } }], stopGraceSeconds: 0 });
    const veth = execFileSync("sh", ["-c", `grep -l '^${prefix}/container/slow/' /sys/class/net/ks*/ifalias | cut -d/ -f5`], { encoding: "utf8" }).trim();
    expect(execFileSync("tc", ["qdisc", "show", "dev", veth, "root"], { encoding: "utf8" })).toMatch(/tbf .*rate 2Mbit/);
    expect(execFileSync("nsenter", [`--net=/proc/${outs.pid}/ns/net`, "tc", "qdisc", "show", "dev", "eth0", "root"], { encoding: "utf8" })).toMatch(/tbf .*rate 1Mbit/);
    const download = async () => {
      const t0 = Date.now();
      const r = await cs.exec("client", `timeout 20 wget -q -O - http://${outs.address}/big | wc -c`);
      expect(r.out.trim()).toBe("262144");
      return Date.now() - t0;
    };
    // 256 KiB out of the container at 1 Mbit/s: about 2.1 s; without the limit: well under 1 s
    const shaped = await download();
    const up = (await L.update("", outs, (await L.check({}, { ...inputs, networks: [{ network: "front" }] })).inputs!)).outs!;
    expect(up.pid).toBe(outs.pid);
    expect(execFileSync("tc", ["qdisc", "show", "dev", veth, "root"], { encoding: "utf8" })).not.toContain("tbf");
    const free = await download();
    console.log(`256 KiB download: ${shaped} ms at 1mbit, ${free} ms unshaped`);
    expect(shaped).toBeGreaterThan(1500);
    expect(free).toBeLessThan(shaped / 2);
  });
});
