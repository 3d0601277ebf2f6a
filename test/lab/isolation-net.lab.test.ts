// The CVE-2020-8558 attack on a cgroup v2 host with crun, over SSH: a container sends a raw TCP SYN
// for the VM's 127.0.0.1 to its gateway's MAC. kslice's guard (and route_localnet kept off) must
// leave it unanswered; with both undone by hand the same probe gets a SYN-ACK, so the probe works.
// Then anti-spoofing and declared ingress (IPv4 and IPv6) attacked from containers there, each with
// its control. One VM; the static probes are built here and copied over ssh.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connection } from "../../schema/connection";
import { PrefixObserver } from "../../provider/kernel/observe/sample";
import { linkLocalFor } from "../../provider/kernel/network/names";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import { forgetReads } from "../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../provider/reconcile/network";
import type { Props } from "../../provider/reconcile/provider-types";
import { closeAllTransports, openTransport } from "../../provider/transport/open";
import { shellQuote as q } from "../../provider/transport/transport";
import { counterPackets, ingressProbes } from "../helpers/ingress6";
import { sshConnection, sshRun, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";

const prefix = `${testPrefix}-lo`;
const probeDir = `/root/${prefix}-probe`;
const SECRET_PORT = 18401;
const PUBLISHED = 18402;

describe("the host's loopback is out of a container's reach (cgroup v2, crun, over SSH)", () => {
  // boot bounded more loosely than the default 90 s: the build machine's 2 cores are shared
  const lab = useLab(1, { bootTimeoutMs: 240_000 });
  const vm = (): LabHost => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  /** A second team on the same VM: another prefix, its own nftables table. */
  const host2 = () => ({ connection: sshConnection(vm()), prefix: `${prefix}2` });
  let net2: Props | undefined;
  let net6: Props | undefined;
  /** v6b on net6: the IPv6 ingress test's gate */
  let gate6: { inputs: Props; outs: Props };
  const others: Props[] = [];
  const ok = async (command: string, input?: string): Promise<string> => {
    const r = await sshRun(vm(), command, input, { timeoutMs: 60_000 });
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    forgetReads();
    return r.stdout;
  };
  const exec = (name: string, script: string) =>
    sshRun(vm(), `crun --root /run/${prefix}/runtime exec ${name} sh -c ${q(script)} 2>&1`, undefined, { timeoutMs: 60_000 });
  let net: Props;
  let netInputs: Props;
  const containers: Props[] = [];
  const localnet = async () => (await ok(`cat /proc/sys/net/ipv4/conf/${net.bridge}/route_localnet`)).trim();
  const attack = async (port = SECRET_PORT) => {
    const mac = (await ok(`cat /sys/class/net/${net.bridge}/address`)).trim();
    return (await exec("attacker", `/probe/loopback-syn ${mac} 127.0.0.1 ${port}`)).stdout.trim();
  };
  async function makeContainer(args: Props): Promise<{ inputs: Props; outs: Props }> {
    const c = await C.check({}, { host: host(), stopGraceSeconds: 0, ...args });
    expect(c.failures).toBeUndefined();
    containers.push(c.inputs!);
    return { inputs: c.inputs!, outs: (await C.create(c.inputs!)).outs! };
  }

  const local = mkdtempSync(join(tmpdir(), "kslice-probe-"));
  beforeAll(() => {
    execFileSync("gcc", ["-static", "-O2", "-o", join(local, "loopback-syn"), join(__dirname, "../fixtures/probes/loopback-syn.c")]);
    execFileSync("gcc", ["-static", "-O2", "-o", join(local, "spoof"), join(__dirname, "../fixtures/probes/spoof.c")]);
    execFileSync("gcc", ["-static", "-O2", "-o", join(local, "spoof6"), join(__dirname, "../fixtures/probes/spoof6.c")]);
  });

  afterAll(async () => {
    try {
      vm();
    } catch {
      rmSync(local, { recursive: true, force: true });
      return; // the lab did not boot: nothing was made
    }
    try {
      for (const c of containers.reverse()) await C.delete("", c).catch(() => undefined);
      if (net) await N.delete("", net).catch(() => undefined);
      if (net6) await N.delete("", net6).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
      for (const c of others) await C.delete("", c).catch(() => undefined);
      if (net2) await N.delete("", net2).catch(() => undefined);
      await hostLifecycle.delete("", { ...host2(), runtime: "auto" }).catch(() => undefined);
      await sshRun(vm(), `kill $(cat ${probeDir}/httpd.pid) 2>/dev/null; rm -rf ${probeDir}`).catch(() => undefined);
    } finally {
      await closeAllTransports();
      rmSync(local, { recursive: true, force: true });
    }
  });

  it("a raw SYN to the VM's 127.0.0.1 from a container is unanswered; with the guard flushed and route_localnet=1 it is answered", async () => {
    // the probe, and a VM service that trusts its loopback binding
    await ok(
      `mkdir -p ${probeDir}/www && base64 -d > ${probeDir}/loopback-syn && chmod 755 ${probeDir}/loopback-syn`,
      readFileSync(join(local, "loopback-syn")).toString("base64"),
    );
    await ok(
      `echo host-secret > ${probeDir}/www/index.html; setsid busybox httpd -f -p 127.0.0.1:${SECRET_PORT} -h ${probeDir}/www </dev/null >/dev/null 2>&1 & echo $! > ${probeDir}/httpd.pid`,
    );
    expect(await ok(`sleep 0.3; timeout 5 busybox wget -q -O - http://127.0.0.1:${SECRET_PORT}/`)).toContain("host-secret");

    const c = await N.check({}, { host: host(), name: "lo-net", subnet: "10.241.10.0/24" });
    expect(c.failures).toBeUndefined();
    netInputs = c.inputs!;
    net = (await N.create(netInputs)).outs!;
    await makeContainer({
      name: "attacker",
      command: ["sleep", "600"],
      networks: [{ network: "lo-net" }],
      mounts: [{ type: "bind", source: probeDir, target: "/probe" }],
    });
    expect(await localnet()).toBe("0");
    expect(await attack()).toBe("none");

    await ok(`echo 1 > /proc/sys/net/ipv4/conf/${net.bridge}/route_localnet && nft flush chain ip ${prefix} guard`);
    try {
      expect(await attack()).toBe("synack");
    } finally {
      expect(await N.diff("", net, netInputs)).toEqual({ changes: true });
      net = (await N.update("", net, netInputs)).outs!;
    }
    expect(await localnet()).toBe("0");
    expect(await attack()).toBe("none");
  });

  it("a port published to 127.0.0.1 answers there and turns route_localnet on, while it lasts; the guard still refuses the attack", async () => {
    const serve = ["sh", "-c", "mkdir -p /www && echo hello-lab > /www/index.html && exec httpd -f -p 80 -h /www"];
    const pub = await makeContainer({
      name: "pub",
      command: serve,
      networks: [{ network: "lo-net" }],
      ports: [{ hostPort: PUBLISHED, containerPort: 80, hostAddress: "127.0.0.1" }],
    });
    expect(await localnet()).toBe("1");
    expect(await ok(`timeout 5 busybox wget -q -O - http://127.0.0.1:${PUBLISHED}/`)).toContain("hello-lab");
    expect(await attack()).toBe("none");
    expect(await N.diff("", net, netInputs)).toEqual({ changes: false });
    await C.delete("", pub.outs);
    containers.splice(containers.indexOf(pub.inputs), 1);
    expect(await localnet()).toBe("0");
  });

  it("an isolated network of another prefix on the same host is out of reach, both ways", async () => {
    const c2 = await N.check({}, { host: host2(), name: "team-b", subnet: "10.241.11.0/24" });
    expect(c2.failures).toBeUndefined();
    net2 = (await N.create(c2.inputs!)).outs!;
    const serve = ["sh", "-c", "mkdir -p /www && echo team-b > /www/index.html && exec httpd -f -p 80 -h /www"];
    const other = await C.check({}, { host: host2(), name: "other", command: serve, networks: [{ network: "team-b" }], stopGraceSeconds: 0 });
    expect(other.failures).toBeUndefined();
    others.push(other.inputs!);
    const o = (await C.create(other.inputs!)).outs!;
    await makeContainer({ name: "near", command: serve, networks: [{ network: "lo-net" }] });
    const near = containers.at(-1)!;
    const nearAddress = (await C.read("", { ...near })).props!.address as string;
    expect(await ok("cat /proc/sys/net/ipv4/ip_forward")).toBe("1\n");
    // same network answers (the fetch works at all); across prefixes nothing comes back
    expect((await exec("attacker", `timeout 10 wget -q -O - http://${nearAddress}/`)).stdout).toContain("team-b");
    expect((await exec("attacker", `timeout 5 wget -q -O - http://${o.address}/ || echo unreachable`)).stdout).toContain("unreachable");
    const back = await sshRun(
      vm(),
      `crun --root /run/${prefix}2/runtime exec other sh -c ${q(`timeout 5 wget -q -O - http://${nearAddress}/ || echo unreachable`)} 2>&1`,
      undefined,
      { timeoutMs: 60_000 },
    );
    expect(back.stdout).toContain("unreachable");
  });

  it("drops a container's forged IPv4 source, ARP replies for the gateway and router advertisements; with antiSpoofing false they arrive", async () => {
    await ok(`base64 -d > ${probeDir}/spoof && chmod 755 ${probeDir}/spoof`, readFileSync(join(local, "spoof")).toString("base64"));
    const { outs: w } = await makeContainer({
      name: "witness",
      command: ["sleep", "600"],
      networks: [{ network: "lo-net" }],
      mounts: [{ type: "bind", source: probeDir, target: "/probe" }],
    });
    let attacker = containers.find((c) => c.name === "attacker")!;
    const near = (await C.read("", { ...containers.find((c) => c.name === "near")! })).props!.address as string;
    const gateway = net.gateway as string;
    const gatewayMac = (await ok(`cat /sys/class/net/${net.bridge}/address`)).trim();
    const arpOfGateway = async () => (await exec("witness", `awk '$1 == "${gateway}" { print $4 }' /proc/net/arp`)).stdout.trim();
    const round = async (tag: string) => {
      // the witness's table holds the gateway's real MAC first (a previous round may have poisoned it)
      await ok(`nsenter --net=/proc/${w.pid}/ns/net ip neigh flush all`);
      await exec("witness", `/probe/spoof say ${gateway} 9 hello`);
      for (let i = 0; i < 50 && !(await arpOfGateway()); i++) await ok("sleep 0.1");
      expect(await arpOfGateway()).toBe(gatewayMac);
      // witnesses with time to spare (an exec over SSH into a TCG guest can take seconds), stopped once read
      await ok(`setsid ${probeDir}/spoof listen 18463 120 > ${probeDir}/host-${tag} 2>&1 < /dev/null & echo $! > ${probeDir}/host-${tag}.pid; sleep 0.5`);
      await exec(
        "witness",
        `/probe/spoof listen 18464 120 > /tmp/peer-${tag} 2>&1 & echo $! > /tmp/w-${tag}.pid; /probe/spoof sniff 120 > /tmp/sniff-${tag} 2>&1 & echo $! >> /tmp/w-${tag}.pid; sleep 0.5`,
      );
      const send = async (args: string) => expect((await exec("attacker", `/probe/spoof ${args}`)).exitCode, args).toBe(0);
      await send(`udp ${near} ${gateway} 18463 forged-${tag}`);
      await send(`udp ${near} ${w.address} 18464 forged-${tag}`);
      await send(`arp ${gateway} ${w.address} ${(await exec("witness", "cat /sys/class/net/eth0/address")).stdout.trim()} 15`);
      await send("ra 3");
      await send(`say ${w.address} 18464 honest-${tag}`);
      const mac = (await exec("attacker", "cat /sys/class/net/eth0/address")).stdout.trim();
      await ok(`sleep 1; kill $(cat ${probeDir}/host-${tag}.pid)`);
      await exec("witness", `kill $(cat /tmp/w-${tag}.pid)`);
      return {
        host: await ok(`cat ${probeDir}/host-${tag}`),
        peer: (await exec("witness", `cat /tmp/peer-${tag}`)).stdout,
        ra: (await exec("witness", `grep -c ${q(`frame ${mac} 86dd`)} /tmp/sniff-${tag}`)).stdout.trim(),
        gateway: await arpOfGateway(),
        mac,
      };
    };
    const guarded = await round("guarded");
    expect(guarded.host).not.toContain("forged");
    expect(guarded.peer).not.toContain("forged");
    expect(guarded.peer).toContain("honest-guarded");
    expect(guarded.ra).toBe("0");
    expect(guarded.gateway).toBe(gatewayMac);

    const setGuard = async (on: boolean) => {
      const c = await C.check({}, { ...attacker, networks: [{ network: "lo-net", antiSpoofing: on }] });
      expect(c.failures).toBeUndefined();
      const prev = (await C.read("", { ...attacker })).props!;
      const outs = (await C.update("", prev, c.inputs!)).outs!;
      expect(outs.pid).toBe(prev.pid);
      containers[containers.indexOf(attacker)] = c.inputs!;
      attacker = c.inputs!;
    };
    await setGuard(false);
    try {
      const open = await round("open");
      expect(open.host).toContain(`from ${near} forged-open`);
      expect(open.peer).toContain(`from ${near} forged-open`);
      expect(Number(open.ra)).toBeGreaterThan(0);
      expect(open.gateway).toBe(open.mac);
    } finally {
      await setGuard(true);
    }
    expect(await N.diff("", net, netInputs)).toEqual({ changes: false });
  });

  it("declared ingress: only the named container reaches the port, the stranger is dropped and counted; without rules both pass", async () => {
    const serve = ["sh", "-c", "mkdir -p /www && echo hello-gate > /www/index.html && exec httpd -f -p 80 -h /www"];
    const gate = await makeContainer({ name: "gate", command: serve, networks: [{ network: "lo-net" }] });
    await makeContainer({ name: "friend", command: ["sleep", "600"], networks: [{ network: "lo-net" }] });
    await makeContainer({ name: "stranger", command: ["sleep", "600"], networks: [{ network: "lo-net" }] });
    const reaches = async (from: string) => (await exec(from, `timeout 2 wget -q -O - http://${gate.outs.address}/`)).stdout.includes("hello-gate");
    // the control: no rules, both reach it
    expect([await reaches("friend"), await reaches("stranger")]).toEqual([true, true]);
    const c = await C.check({}, { ...gate.inputs, ingress: [{ from: [{ container: "friend" }], ports: [80] }] });
    expect(c.failures).toBeUndefined();
    const updated = (await C.update("", gate.outs, c.inputs!)).outs!;
    containers.splice(containers.indexOf(gate.inputs), 1, c.inputs!);
    expect(updated.pid).toBe(gate.outs.pid);
    expect(await ok(`cat /sys/class/net/${net.bridge}/bridge/nf_call_iptables`)).toBe("1\n");
    expect([await reaches("friend"), await reaches("stranger")]).toEqual([true, false]);
    expect(Number(/packets (\d+)/.exec(await ok(`nft list counter ip ${prefix} ingress_gate`))![1])).toBeGreaterThan(0);
  });

  it("dual-stack: two containers reach each other over IPv6; a forged IPv6 source to the host and a neighbour advertisement for the gateway are dropped, and arrive with antiSpoofing false", async () => {
    await ok(`mkdir -p ${probeDir} && base64 -d > ${probeDir}/spoof6 && chmod 755 ${probeDir}/spoof6`, readFileSync(join(local, "spoof6")).toString("base64"));
    const c = await N.check({}, { host: host(), name: "v6-net", subnet: "10.236.20.0/24", subnet6: "fd36:20::/64" });
    expect(c.failures).toBeUndefined();
    net6 = (await N.create(c.inputs!)).outs!;
    const on = (antiSpoofing: boolean) => [{ network: "v6-net", antiSpoofing }];
    const probe = [{ type: "bind", source: probeDir, target: "/probe" }];
    let sender = await makeContainer({ name: "v6a", command: ["sleep", "600"], networks: on(true), mounts: probe });
    // v6b serves HTTP too: the next test's gate
    const serve = ["sh", "-c", "mkdir -p /www && echo hello-v6 > /www/index.html && exec httpd -f -p 80 -h /www"];
    gate6 = await makeContainer({ name: "v6b", command: serve, networks: on(true), mounts: probe });
    const b = gate6.outs;
    const a6 = sender.outs.address6 as string;
    expect([a6, b.address6]).toEqual(["fd36:20::2", "fd36:20::3"]);
    // v6b's neighbour entry for gateway6, read from the VM in its namespace (a new one each round)
    const gw6 = net6!.gateway6 as string;
    const inB = (cmd: string) => ok(`nsenter --net=/proc/${b.pid}/ns/net ${cmd}`);
    const gatewayOfB = async () => (await inB(`ip -6 neigh show ${gw6}`)).match(/lladdr (\S+)/)?.[1];
    const bridgeMac = (await ok(`cat /sys/class/net/${net6!.bridge}/address`)).trim();
    // nsenter --net keeps the VM's /sys: ip reads the namespace's own links
    const macIn = async (pid: unknown) => (await ok(`nsenter --net=/proc/${pid}/ns/net ip -o link show eth0`)).match(/link\/ether (\S+)/)?.[1];
    const macB = await macIn(b.pid);
    const round = async (tag: string) => {
      await inB("ip -6 neigh flush all");
      await exec("v6b", `/probe/spoof6 say ${gw6} 9 learn-${tag}`);
      for (let i = 0; i < 50 && !(await gatewayOfB()); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await gatewayOfB()).toBe(bridgeMac);
      await ok(`setsid ${probeDir}/spoof6 listen 18967 120 > ${probeDir}/host6-${tag} 2>&1 < /dev/null & echo $! > ${probeDir}/host6-${tag}.pid; sleep 0.5`);
      await exec("v6b", `/probe/spoof6 listen 18966 120 > /tmp/peer6-${tag} 2>&1 & echo $! > /tmp/w6-${tag}.pid; sleep 0.5`);
      const send = async (args: string) => expect((await exec("v6a", `/probe/spoof6 ${args}`)).exitCode, args).toBe(0);
      await send(`say ${b.address6} 18966 peer-${tag}`);
      await send(`udp fd36:20::77 ${net6!.gateway6} 18967 forged-${tag}`);
      await send(`say ${net6!.gateway6} 18967 honest-${tag}`);
      // a neighbour advertisement telling v6b that gateway6 is at v6a's MAC (NDP poisoning)
      await send(`na ${a6} ${gw6} ${b.address6} ${macB} 10`);
      await ok(`sleep 1; kill $(cat ${probeDir}/host6-${tag}.pid)`);
      await exec("v6b", `kill $(cat /tmp/w6-${tag}.pid)`);
      return { host: await ok(`cat ${probeDir}/host6-${tag}`), peer: (await exec("v6b", `cat /tmp/peer6-${tag}`)).stdout, gateway: await gatewayOfB() };
    };
    const guarded = await round("guarded");
    expect(guarded.peer).toContain(`from ${a6} peer-guarded`);
    expect(guarded.host).toContain(`from ${a6} honest-guarded`);
    expect(guarded.host).not.toContain("forged");
    expect(guarded.gateway).toBe(bridgeMac);
    // the control: the sender's guard off (live), the forged source arrives
    const cc = await C.check({}, { ...sender.inputs, networks: on(false) });
    expect(cc.failures).toBeUndefined();
    const outs = (await C.update("", sender.outs, cc.inputs!)).outs!;
    expect(outs.pid).toBe(sender.outs.pid);
    containers.splice(containers.indexOf(sender.inputs), 1, cc.inputs!);
    sender = { inputs: cc.inputs!, outs };
    const open = await round("open");
    expect(open.host).toContain("from fd36:20::77 forged-open");
    expect(open.host).toContain(`from ${a6} honest-open`);
    expect(open.gateway).toBe(await macIn(sender.outs.pid));
  });

  it("declared ingress over IPv6: only the named neighbour reaches the port, at the global and the link-local address; the stranger is dropped and counted; without rules both pass", async () => {
    await makeContainer({ name: "v6c", command: ["sleep", "600"], networks: [{ network: "v6-net" }] });
    const { inputs: gate, outs: prev } = gate6;
    const address6 = prev.address6 as string;
    const linkLocal = linkLocalFor((await exec("v6b", "cat /sys/class/net/eth0/address")).stdout.trim());
    const { reaches6, reachesLinkLocal } = ingressProbes(async (from, script) => {
      const r = await exec(from, script);
      return { code: r.exitCode, out: r.stdout };
    }, "hello-v6");
    // v6a declared, v6c (the stranger) not
    const flows = async () => ({
      v6a: await reaches6("v6a", address6, 80),
      v6c: await reaches6("v6c", address6, 80),
      v6aLinkLocal: await reachesLinkLocal("v6a", linkLocal, 80),
      v6cLinkLocal: await reachesLinkLocal("v6c", linkLocal, 80),
    });
    expect(await flows()).toEqual({ v6a: true, v6c: true, v6aLinkLocal: true, v6cLinkLocal: true });
    const c = await C.check({}, { ...gate, ingress: [{ from: [{ container: "v6a" }], ports: [80] }] });
    expect(c.failures).toBeUndefined();
    expect((await C.update("", prev, c.inputs!)).outs!.pid).toBe(prev.pid);
    containers.splice(containers.indexOf(gate), 1, c.inputs!);
    expect(await flows()).toEqual({ v6a: true, v6c: false, v6aLinkLocal: true, v6cLinkLocal: false });
    const drops6 = counterPackets(await ok(`nft list counter ip6 ${prefix} ingress_v6b`));
    expect(drops6).toBeGreaterThan(0);
    // what kslice ps --json shows
    const sample = await (await PrefixObserver.open(openTransport(connection.parse(sshConnection(vm()))), prefix)).sample();
    expect(sample.ingressDrops.get("v6b")!.packets).toBeGreaterThanOrEqual(drops6);
  });

  it("keeps a container's bundle (config.json with its env, log, writable layer) from other users of the VM", async () => {
    const { outs } = await makeContainer({ name: "vault", command: ["sh", "-c", "echo private > /data; exec sleep 600"], env: { TOKEN: "lab-secret" } });
    const bundle = outs.bundlePath as string;
    await ok("sleep 0.3");
    for (const f of ["config.json", "log", "upper/data"]) {
      await ok(`test -f ${bundle}/${f}`); // root sees it: the path is right
      const r = await sshRun(vm(), `setpriv --reuid=65534 --regid=65534 --clear-groups -- cat ${bundle}/${f}`);
      expect(r.exitCode, f).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied/);
    }
    expect((await sshRun(vm(), `setpriv --reuid=65534 --regid=65534 --clear-groups -- ls ${bundle}/rootfs`)).exitCode).not.toBe(0);
  });

  it("finds an init restarted by hand with more capabilities and no seccomp filter (config put back), and update restarts it as declared", async () => {
    const { inputs, outs } = await makeContainer({ name: "tamper", command: ["sleep", "600"] });
    const bundle = outs.bundlePath as string;
    const rt = `crun --root /run/${prefix}/runtime`;
    const original = await ok(`cat ${bundle}/config.json`);
    const spec = JSON.parse(original);
    for (const set of ["bounding", "effective", "permitted"]) spec.process.capabilities[set].push("CAP_SYS_ADMIN");
    spec.process.noNewPrivileges = false;
    delete spec.linux.seccomp;
    // behind kslice's back: started from the edited config, then the file put back
    await ok(`cat > ${bundle}/config.json`, JSON.stringify(spec));
    await ok(`${rt} delete --force tamper && ${rt} run --detach --bundle ${bundle} tamper </dev/null >>${bundle}/log 2>&1`);
    await ok(`cat > ${bundle}/config.json`, original);
    const pid = Number((await ok(`${rt} state tamper | grep '"pid"' | tr -dc 0-9`)).trim());
    expect((await ok(`grep Seccomp: /proc/${pid}/status`)).trim()).toMatch(/0$/);
    const read = (await C.read("", { ...outs, pid })).props!;
    expect(read.securityDrift).toEqual(["capabilities", "seccomp", "no_new_privs"]);
    expect(await C.diff("", { ...read, pid }, inputs)).toEqual({ changes: true });
    const updated = (await C.update("", { ...read, pid }, inputs)).outs!;
    expect(updated.pid).not.toBe(pid);
    expect(updated.securityDrift).toEqual([]);
    expect((await ok(`grep Seccomp: /proc/${updated.pid}/status`)).trim()).toMatch(/2$/);
  });

  it("deletes the container, the network and the host's setup: nothing named after the prefix is left", async () => {
    for (const c of containers.splice(0).reverse()) await C.delete("", c);
    await N.delete("", net);
    if (net6) await N.delete("", net6);
    await hostLifecycle.delete("", { ...host(), runtime: "auto" });
    for (const c of others.splice(0)) await C.delete("", c);
    if (net2) await N.delete("", net2);
    await hostLifecycle.delete("", { ...host2(), runtime: "auto" });
    // the prefix in two quoted halves, so this very command line does not match itself
    const half = Math.floor(prefix.length / 2);
    const leaks = await ok(
      [
        `P='${prefix.slice(0, half)}''${prefix.slice(half)}'`,
        `find /sys/fs/cgroup /run /var/lib -name "*$P*" 2>/dev/null`,
        `grep -l "^$P" /sys/class/net/*/ifalias 2>/dev/null`,
        `nft list tables 2>/dev/null | grep -F "$P"`,
        `true`,
      ].join("\n"),
    );
    expect(leaks).toBe("");
  });
});
