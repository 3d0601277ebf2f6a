import { execFileSync, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  let clientPid: number;

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
    expect(table).toContain(`iifname "${br}" oifname "ks*" oifname != "${br}" drop`);
    expect(await N.diff("", front.outs, front.inputs)).toEqual({ changes: false });
  });

  it("two containers on one network reach each other; another network's cannot; no network is loopback only", async () => {
    const web = await cs.create("web", { command: serve("hello-front"), networks: [{ network: ns.ref(front.outs) }], stopGraceSeconds: 0 });
    clientPid = (await cs.create("client", { command: idle, networks: [{ network: "front" }], stopGraceSeconds: 0 })).outs.pid as number;
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

  // Networks are IPv4: an IPv6 link-local address on each end would send DAD, MLD and router
  // solicitations at every start, which the bridge floods to every container on it.
  it.skipIf(!existsSync("/proc/sys/net/ipv6"))("neither end of a container's veth gets an IPv6 address, and its namespace sends no ICMPv6", async () => {
    const inNs = (...cmd: string[]) => execFileSync("nsenter", [`--net=/proc/${clientPid}/ns/net`, ...cmd], { encoding: "utf8" });
    // DAD and the first solicitation wait up to a second after the link is up
    await new Promise((r) => setTimeout(r, 1500));
    expect(inNs("ip", "-o", "-6", "addr", "show", "dev", "eth0")).toBe("");
    // the host ends: the bridge's ports (web's and client's at least)
    const ports = readdirSync(`/sys/class/net/${front.outs.bridge as string}/brif`);
    expect(ports.length).toBeGreaterThanOrEqual(2);
    for (const v of ports) expect(execFileSync("ip", ["-o", "-6", "addr", "show", "dev", v], { encoding: "utf8" })).toBe("");
    expect(inNs("cat", "/proc/net/snmp6")).toMatch(/^Icmp6OutMsgs\s+0$/m);
    expect(inNs("ip", "-o", "-4", "addr", "show", "dev", "eth0")).toContain("10.231.1.3/24");
  });

  it("net.sh joins only its container's init: another pid or the host's own namespace is refused, changing nothing", async () => {
    const net = `/var/lib/${prefix}/containers/client/net.sh`;
    const links = () => execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).split("\n").length;
    const before = links();
    // a process of another container (its init), then a host process (this test's own pid)
    const other = JSON.parse(execFileSync("runc", ["--root", `/run/${prefix}/runtime`, "state", "web"], { encoding: "utf8" })).pid as number;
    for (const pid of [other, process.pid]) {
      const r = await sh(`sh ${net} ${pid}`);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain(`process ${pid} is not the init of container client`);
    }
    // the container's init file names a host process: the namespace test refuses it
    const initFile = `/var/lib/${prefix}/containers/client/init.pid`;
    const saved = readFileSync(initFile, "utf8");
    try {
      writeFileSync(initFile, String(process.pid));
      const r = await sh(`sh ${net} ${process.pid}`);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain(`process ${process.pid} is in the host's network namespace`);
    } finally {
      writeFileSync(initFile, saved);
    }
    expect(links()).toBe(before);
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
    await cs.create("pub", {
      command: serve("hello-published"),
      networks: [{ network: "front" }],
      ports: [{ hostPort: 18931, containerPort: 80, hostAddress: "127.0.0.1" }],
      stopGraceSeconds: 0,
    });
    const r = await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18931/");
    expect(r.out).toContain("hello-published");
  });

  it("a published udp port reaches the container (its namespace counts the datagram)", async () => {
    const { outs } = await cs.create("udp", {
      command: idle,
      networks: [{ network: "front" }],
      ports: [{ hostPort: 18953, containerPort: 53, protocol: "udp", hostAddress: "127.0.0.1" }],
      stopGraceSeconds: 0,
    });
    // nothing listens on 53 inside: a datagram that arrives there is counted as Udp NoPorts in the container's namespace
    const noPorts = () => {
      const snmp = execFileSync("nsenter", [`--net=/proc/${outs.pid}/ns/net`, "cat", "/proc/net/snmp"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.startsWith("Udp:"));
      return Number(snmp[1]!.split(/\s+/)[snmp[0]!.split(/\s+/).indexOf("NoPorts")]);
    };
    const before = noPorts();
    const sock = createSocket("udp4");
    await new Promise<void>((resolve, reject) => sock.send("kslice", 18953, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
    sock.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(noPorts()).toBe(before + 1);
  });

  it("NAT masquerades outbound traffic; without NAT the container's own address goes out", async () => {
    // an "outside" of our own: a named netns behind a veth, serving its caller's address over CGI
    const ext = `${prefix}-ext`;
    // not "ks…": isolation drops traffic to every kslice-named interface
    const veth = `nsx${prefix.slice(-6).replace(/-/g, "")}e`;
    const www = mkdtempSync(join(tmpdir(), "kslice-cgi-"));
    mkdirSync(join(www, "cgi-bin"));
    writeFileSync(join(www, "cgi-bin", "ip"), '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n', { mode: 0o755 });
    const setup = [
      `ip netns add ${ext}`,
      `ip link add ${veth} type veth peer name eth0 netns ${ext}`,
      `ip addr add 10.231.200.1/24 dev ${veth} && ip link set ${veth} up`,
      `ip netns exec ${ext} sh -c 'ip addr add 10.231.200.2/24 dev eth0 && ip link set eth0 up && ip link set lo up && ip route add default via 10.231.200.1'`,
    ];
    let server: ReturnType<typeof spawn> | undefined;
    try {
      execFileSync("sh", ["-c", setup.join(" && ")]);
      server = spawn("ip", ["netns", "exec", ext, "busybox", "httpd", "-f", "-p", "80", "-h", www], { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 300));
      // client is on front (nat: true), stranger on back (nat: false)
      // (httpd listens on a v6 socket: it reports v4 callers as ::ffff:a.b.c.d)
      expect((await fetchIn("client", "http://10.231.200.2/cgi-bin/ip")).out.trim()).toBe("[::ffff:10.231.200.1]");
      expect((await fetchIn("stranger", "http://10.231.200.2/cgi-bin/ip")).out.trim()).toBe("[::ffff:10.231.2.50]");
    } finally {
      server?.kill("SIGKILL");
      execFileSync("sh", ["-c", `ip link del ${veth} 2>/dev/null; ip netns del ${ext} 2>/dev/null; true`]);
      rmSync(www, { recursive: true, force: true });
    }
  });

  it("drift (address removed, veth deleted, rule flushed) shows in read and a live update repairs it", async () => {
    const c = (
      await L.check(
        {},
        {
          host: cs.host,
          name: "pub",
          command: serve("hello-published"),
          networks: [{ network: "front" }],
          ports: [{ hostPort: 18931, containerPort: 80, hostAddress: "127.0.0.1" }],
          stopGraceSeconds: 0,
        },
      )
    ).inputs!;
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
    const { inputs, outs } = await cs.create("named", {
      command: idle,
      hostname: "named-1",
      networks: [{ network: "front" }],
      dns,
      hosts: { "db.internal": "10.231.1.200" },
      stopGraceSeconds: 0,
    });
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
    const { inputs, outs } = await cs.create("slow", {
      command: big,
      networks: [{ network: "front", bandwidth: { ingress: "2mbit", egress: "1mbit" } }],
      stopGraceSeconds: 0,
    });
    const veth = execFileSync("sh", ["-c", `grep -l '^${prefix}/container/slow/' /sys/class/net/ks*/ifalias | cut -d/ -f5`], { encoding: "utf8" }).trim();
    expect(execFileSync("tc", ["qdisc", "show", "dev", veth, "root"], { encoding: "utf8" })).toMatch(/tbf .*rate 2Mbit/);
    expect(execFileSync("nsenter", [`--net=/proc/${outs.pid}/ns/net`, "tc", "qdisc", "show", "dev", "eth0", "root"], { encoding: "utf8" })).toMatch(
      /tbf .*rate 1Mbit/,
    );
    // a diff reads every namespace at once (probe-all: tc only where a link's qdisc is not the default)
    const egress = (rate: string | undefined) =>
      execFileSync("nsenter", [
        `--net=/proc/${outs.pid}/ns/net`,
        "tc",
        "qdisc",
        rate ? "replace" : "del",
        "dev",
        "eth0",
        "root",
        ...(rate ? ["tbf", "rate", rate, "burst", "16000", "latency", "50ms"] : []),
      ]);
    const diffNow = async (olds: Record<string, unknown>, news: Record<string, unknown>) => (forgetReads(), await L.diff("", olds, news));
    expect(await diffNow(outs, inputs)).toEqual({ changes: false });
    egress("3mbit");
    expect(await diffNow(outs, inputs), "egress rate changed by hand").toEqual({ changes: true });
    egress(undefined);
    expect(await diffNow(outs, inputs), "egress limit removed by hand").toEqual({ changes: true });
    egress("1mbit");
    expect(await diffNow(outs, inputs)).toEqual({ changes: false });
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
    const unshaped = (await L.check({}, { ...inputs, networks: [{ network: "front" }] })).inputs!;
    expect(await diffNow(up, unshaped)).toEqual({ changes: false });
    egress("3mbit");
    expect(await diffNow(up, unshaped), "an egress limit added by hand").toEqual({ changes: true });
    egress(undefined);
    expect(await diffNow(up, unshaped)).toEqual({ changes: false });
    console.log(`256 KiB download: ${shaped} ms at 1mbit, ${free} ms unshaped`);
    expect(shaped).toBeGreaterThan(1500);
    expect(free).toBeLessThan(shaped / 2);
  });

  it("a network's drift (address, NAT rule, bridge) is found, shown and repaired", async () => {
    const br = front.outs.bridge as string;
    forgetReads();
    expect(await N.diff("", front.outs, front.inputs)).toEqual({ changes: false });
    execFileSync("ip", ["addr", "flush", "dev", br]);
    forgetReads();
    expect(await N.diff("", front.outs, front.inputs)).toEqual({ changes: true });
    front.outs = (await N.update("", front.outs, front.inputs)).outs!;
    expect(execFileSync("ip", ["-o", "-4", "addr", "show", "dev", br], { encoding: "utf8" })).toContain("10.231.1.1/24");

    execFileSync("nft", ["flush", "chain", "ip", prefix, "postrouting"]);
    forgetReads();
    expect(await N.diff("", front.outs, front.inputs)).toEqual({ changes: true });
    expect((await N.read("", front.outs)).props!.nat).toBe(false);
    front.outs = (await N.update("", front.outs, front.inputs)).outs!;
    expect(execFileSync("nft", ["list", "chain", "ip", prefix, "postrouting"], { encoding: "utf8" })).toContain("masquerade");

    // the bridge deleted: the network reads as missing, update re-creates it, its containers' update re-attaches them
    execFileSync("ip", ["link", "del", "dev", br]);
    forgetReads();
    const seen = (await N.read("", front.outs)).props!;
    expect(seen.status).toBe("missing");
    expect(await N.diff("", seen, front.inputs)).toEqual({ changes: true });
    front.outs = (await N.update("", seen, front.inputs)).outs!;
    expect(front.outs.status).toBe("up");
    for (const [name, command] of [
      ["client", idle],
      ["web", serve("hello-front")],
    ] as const) {
      const c = (
        await L.check({}, { host: cs.host, name, command, networks: [{ network: name === "web" ? ns.ref(front.outs) : "front" }], stopGraceSeconds: 0 })
      ).inputs!;
      const outs = (await L.read("", { ...c, pid: 0 })).props!;
      expect(await L.diff("", outs, c), name).toEqual({ changes: true });
      const repaired = (await L.update("", outs, c)).outs!;
      expect(repaired.pid, name).toBe(outs.pid);
      forgetReads();
      expect(await L.diff("", (await L.read("", repaired)).props!, c), name).toEqual({ changes: false });
    }
    expect((await fetchIn("client", "http://10.231.1.2/")).out).toContain("hello-front");
  });

  it("a stopped container's ports forward nowhere (rules go, claims stay) and come back on start", async () => {
    const c = (
      await L.check(
        {},
        {
          host: cs.host,
          name: "pub",
          command: serve("hello-published"),
          networks: [{ network: "front" }],
          ports: [{ hostPort: 18931, containerPort: 80, hostAddress: "127.0.0.1" }],
          stopGraceSeconds: 0,
        },
      )
    ).inputs!;
    forgetReads();
    const outs = (await L.read("", { ...c, pid: 0 })).props!;
    const stopped = (await L.update("", outs, { ...c, state: "stopped" })).outs!;
    expect(execFileSync("nft", ["list", "chain", "ip", prefix, "ports"], { encoding: "utf8" })).not.toContain("18931");
    expect(execFileSync("sh", ["-c", `grep -l '^${prefix}/container/pub/' /sys/class/net/ks*/ifalias 2>/dev/null | wc -l`], { encoding: "utf8" }).trim()).toBe(
      "0",
    );
    // another container cannot take the port meanwhile
    const taken = await L.check(
      {},
      { host: cs.host, name: "thief", command: idle, networks: [{ network: "front" }], ports: [{ hostPort: 18931, hostAddress: "127.0.0.1" }] },
    );
    expect(taken.failures).toEqual([{ property: "ports.0.hostPort", reason: "got tcp 127.0.0.1:18931, already published by container pub" }]);
    const again = (await L.update("", stopped, c)).outs!;
    expect(again.address).toBe(outs.address);
    expect((await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18931/")).out).toContain("hello-published");
  });

  it("rejects bad input at check, naming the input, and creates nothing", async () => {
    const failures = async (args: Record<string, unknown>, lifecycle = L) =>
      (await lifecycle.check({}, { host: cs.host, stopGraceSeconds: 0, ...args })).failures;
    const ref = ns.ref(front.outs);
    expect(await failures({ name: "bad1", command: idle, networks: [{ network: ref, address: "10.231.9.5" }] })).toEqual([
      { property: "networks.0.address", reason: 'got "10.231.9.5"; expected an address inside front\'s subnet 10.231.1.0/24 (10.231.1.1 to 10.231.1.254)' },
    ]);
    expect(await failures({ name: "bad2", command: idle, networks: [{ network: ref, address: "10.231.1.1" }] })).toEqual([
      {
        property: "networks.0.address",
        reason: "got \"10.231.1.1\", which is front's gateway (the host's address on the bridge); expected another address in 10.231.1.0/24",
      },
    ]);
    // the same, for a network named as a string (known only from the host)
    expect(await failures({ name: "bad3", command: idle, networks: [{ network: "front", address: "10.231.1.1" }] })).toEqual([
      {
        property: "networks.0.address",
        reason: 'got "10.231.1.1"; expected a free host address in front\'s subnet 10.231.1.0/24, other than its gateway 10.231.1.1',
      },
    ]);
    expect(await failures({ name: "bad4", command: idle, networks: [{ network: "nowhere" }] })).toEqual([
      {
        property: "networks.0.network",
        reason: `got "nowhere"; no such network on host local under prefix ${prefix} (create a Network of that name, or pass the Network's ref)`,
      },
    ]);
    expect(await failures({ name: "bad5", command: idle, networks: [{ network: "front" }], ports: [{ hostPort: 65536 }] })).toEqual([
      { property: "ports.0.hostPort", reason: "expected a port from 1 to 65535" },
    ]);
    expect(await failures({ name: "bad6", command: idle, networks: [{ network: "front" }], ports: [{ hostPort: 18931, hostAddress: "0.0.0.0" }] })).toEqual([
      { property: "ports.0.hostPort", reason: "got tcp 0.0.0.0:18931, already published by container pub" },
    ]);
    expect(
      await failures({
        name: "bad7",
        command: idle,
        networks: [
          {
            network: "front",
            address: (
              await L.read("", {
                ...(await L.check({}, { host: cs.host, name: "web", command: serve("hello-front"), networks: [{ network: ref }], stopGraceSeconds: 0 }))
                  .inputs!,
                pid: 0,
              })
            ).props!.address,
          },
        ],
      }),
    ).toEqual([
      {
        property: "networks.0.address",
        reason:
          'got "10.231.1.2", already the address of container web on network front; give the network a dynamicRange that leaves static addresses out, so parallel creates cannot take them',
      },
    ]);
    expect(await failures({ name: "lap", subnet: "10.231.1.128/25" }, N)).toEqual([
      { property: "subnet", reason: 'got "10.231.1.128/25", which overlaps network front\'s 10.231.1.0/24 on host local' },
    ]);
    expect(await failures({ name: "long", subnet: "10.231.7.0/24", bridge: "ks-much-too-long-1" }, N)).toEqual([
      { property: "bridge", reason: 'got "ks-much-too-long-1" (18 characters); the kernel allows at most 15 in an interface name' },
    ]);
    expect(await failures({ name: "gw", subnet: "10.231.7.0/24", gateway: "10.231.8.1" }, N)).toEqual([
      { property: "gateway", reason: 'got "10.231.8.1"; expected a host address inside 10.231.7.0/24 (10.231.7.1 to 10.231.7.254)' },
    ]);
    // a rename keeps the old name's claims: the engine deletes the old container first
    expect(
      (
        await L.check(
          { name: "pub" },
          { host: cs.host, name: "pub2", command: idle, networks: [{ network: "front" }], ports: [{ hostPort: 18931, hostAddress: "127.0.0.1" }] },
        )
      ).failures,
    ).toBeUndefined();
    // a host interface that is not kslice's
    const foreign = `ksx${prefix.slice(-6).replace(/-/g, "")}`;
    execFileSync("ip", ["link", "add", foreign, "type", "veth", "peer", "name", `${foreign}p`]); // (no dummy module here)
    forgetReads(); // made behind kslice's back: the next engine run sees it
    try {
      expect(await failures({ name: "other", subnet: "10.231.7.0/24", bridge: foreign }, N)).toEqual([
        {
          property: "bridge",
          reason: `got "${foreign}", an interface that already exists on host local and is not this network's (it has no alias); choose another name`,
        },
      ]);
    } finally {
      execFileSync("ip", ["link", "del", foreign]);
    }
    const bundles = execFileSync("ls", [`/var/lib/${prefix}/containers`], { encoding: "utf8" });
    for (const n of ["bad1", "bad2", "bad3", "bad4", "bad5", "bad6", "bad7"]) expect(bundles).not.toContain(n);
    expect(
      execFileSync("ls", [`/var/lib/${prefix}/networks`], { encoding: "utf8" })
        .trim()
        .split("\n")
        .sort(),
    ).toEqual(["back", "front"]);
  });

  it("refuses a port where a host process already listens", async () => {
    const server = createServer().listen(18933, "127.0.0.1");
    await once(server, "listening");
    forgetReads(); // a listener started behind kslice's back: the next engine run sees it
    try {
      const c = await L.check({}, { host: cs.host, name: "squatter", command: idle, networks: [{ network: "front" }], ports: [{ hostPort: 18933 }] });
      expect(c.failures).toEqual([
        { property: "ports.0.hostPort", reason: "got tcp 0.0.0.0:18933, where a process on host local already listens (127.0.0.1:18933)" },
      ]);
    } finally {
      server.close();
    }
  });

  it("a network whose create fails halfway leaves no bridge, record or rule", async () => {
    // another prefix whose nftables table holds a "bridges" set of the wrong type: the rules step fails after the bridge is made
    const other = new Networks(`${prefix}-f`);
    execFileSync("nft", ["-f", "-"], { input: `add table ip ${other.prefix}\nadd set ip ${other.prefix} bridges { type ipv4_addr; }\n` });
    try {
      await expect(other.create("half", { subnet: "10.231.9.0/24" })).rejects.toThrow(/network half/);
      expect(execFileSync("sh", ["-c", `grep -l '^${other.prefix}/' /sys/class/net/*/ifalias 2>/dev/null | wc -l`], { encoding: "utf8" }).trim()).toBe("0");
      expect(existsSync(`/var/lib/${other.prefix}/networks/half`)).toBe(false);
      // the table was the prefix's (named after it): it went with the failed create's cleanup, as did the prefix's dirs
      expect(leaksOf(other.prefix)).toEqual([]);
    } finally {
      execFileSync("sh", ["-c", `nft delete table ip ${other.prefix} 2>/dev/null; rm -rf /var/lib/${other.prefix} /run/${other.prefix}`]);
    }
  });

  it("a create that fails halfway leaves no veth, rule, address or claim", async () => {
    const before = execFileSync("sh", ["-c", `ls /var/lib/${prefix}/networks/front/addresses | sort`], { encoding: "utf8" });
    const c = await L.check(
      {},
      {
        host: cs.host,
        name: "broken",
        command: ["/no/such/binary"],
        networks: [{ network: "front" }],
        ports: [{ hostPort: 18932, hostAddress: "127.0.0.1" }],
        stopGraceSeconds: 0,
      },
    );
    await expect(L.create(c.inputs!)).rejects.toThrow(/broken/);
    expect(execFileSync("sh", ["-c", `ls /var/lib/${prefix}/networks/front/addresses | sort`], { encoding: "utf8" })).toBe(before);
    expect(existsSync(`/var/lib/${prefix}/ports/broken`)).toBe(false);
    expect(existsSync(`/var/lib/${prefix}/containers/broken`)).toBe(false);
    expect(execFileSync("nft", ["list", "table", "ip", prefix], { encoding: "utf8" })).not.toContain("c:broken");
    expect(execFileSync("sh", ["-c", `cat /sys/class/net/ks*/ifalias | grep -c '/container/broken/' || true`], { encoding: "utf8" }).trim()).toBe("0");
  });

  it("a network with containers on it refuses to go, naming them; the Host refuses while networks remain", async () => {
    await expect(N.delete("", back.outs)).rejects.toThrow(/network back still has containers on it: stranger/);
    await expect(cs.deleteHost()).rejects.toThrow(/networks back, front/);
  });

  it("a restart by the supervisor puts the container back on its network", async () => {
    const { outs } = await cs.create("phoenix", { command: idle, networks: [{ network: "front" }], restartPolicy: "always", stopGraceSeconds: 0 });
    execFileSync("kill", ["-9", String(outs.pid)]);
    let pid = 0;
    for (let i = 0; i < 40 && (!pid || pid === outs.pid); i++) {
      await new Promise((r) => setTimeout(r, 250));
      forgetReads();
      const o = (await L.read("", outs)).props;
      pid = o?.status === "running" ? (o.pid as number) : 0;
    }
    expect(pid).not.toBe(outs.pid);
    expect(pid).toBeGreaterThan(0);
    const addr = execFileSync("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "-o", "-4", "addr", "show", "dev", "eth0"], { encoding: "utf8" });
    expect(addr).toContain(`${outs.address}/24`);
  });

  it("50 containers created in parallel get 50 distinct addresses", async () => {
    const wide = await ns.create("wide", { subnet: "10.231.64.0/26" });
    const made = await Promise.all(
      Array.from({ length: 50 }, (_, i) => cs.create(`p${i}`, { command: idle, networks: [{ network: ns.ref(wide.outs) }], stopGraceSeconds: 0 })),
    );
    const addrs = made.map((m) => m.outs.address as string);
    expect(new Set(addrs).size).toBe(50);
    for (const a of addrs) expect(a).toMatch(/^10\.231\.64\.([2-9]|[1-5]\d|6[0-2])$/);
    // the kernel agrees: each init's eth0 holds its own address
    const seen = made.map(
      (m) =>
        execFileSync("nsenter", [`--net=/proc/${m.outs.pid}/ns/net`, "ip", "-o", "-4", "addr", "show", "dev", "eth0"], { encoding: "utf8" }).split(/\s+/)[3],
    );
    expect(seen).toEqual(addrs.map((a) => `${a}/26`));
    // the 62-address subnet holds 61 containers: the 12th beyond these is refused with a clear error
    const more = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => cs.create(`q${i}`, { command: idle, networks: [{ network: "wide" }], stopGraceSeconds: 0 })),
    );
    const refused = more.filter((r) => r.status === "rejected");
    expect(refused).toHaveLength(1);
    expect(String((refused[0] as PromiseRejectedResult).reason)).toContain("network wide (10.231.64.0/26) has no free address left");
  });
});
