import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HostLayout } from "../../../../provider/kernel/container/layout";
import { allocateScript, parseAllocations, releaseScript } from "../../../../provider/kernel/network/allocate";
import { loopbackBridges, parseNetProbe, type Attachment } from "../../../../provider/kernel/network/attach";
import { localnetScript } from "../../../../provider/kernel/network/localnet";
import { hostnameFile, hostNameservers, hostsFile, resolvConf } from "../../../../provider/kernel/network/dns";
import { macFor, vethName } from "../../../../provider/kernel/network/names";
import { baseComments, holdsExactly, networkRules, portRules, ruleComments } from "../../../../provider/kernel/network/nft";

const dir = mkdtempSync(join(tmpdir(), "kslice-alloc-"));
const layout = { networks: dir, network: (n: string) => join(dir, n) } as unknown as HostLayout;
const run = (script: string) => {
  try {
    return { out: execFileSync("sh", ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), err: "" };
  } catch (e) {
    return { out: "", err: String((e as { stderr?: string }).stderr) };
  }
};
const alloc = (container: string, address?: string) =>
  run(allocateScript(layout, container, [{ network: "n", subnet: "10.0.0.0/29", gateway: "10.0.0.1", address }]));

describe("address allocation script (a temp dir stands in for /var/lib/<prefix>/networks)", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "n", "addresses"), { recursive: true });

  it("hands out the lowest free address, skipping the gateway, and the same one again to its owner", () => {
    expect(parseAllocations(alloc("a").out)).toEqual(new Map([["n", "10.0.0.2"]]));
    expect(alloc("b").out).toBe("n 10.0.0.3\n");
    expect(alloc("a").out).toBe("n 10.0.0.2\n");
  });

  it("claims static addresses, refuses one held by another, and moves a changed static claim", () => {
    expect(alloc("c", "10.0.0.6").out).toBe("n 10.0.0.6\n");
    expect(alloc("d", "10.0.0.6").err).toContain("address 10.0.0.6 on network n is taken by container c");
    expect(alloc("c", "10.0.0.5").out).toBe("n 10.0.0.5\n");
    expect(readdirSync(join(dir, "n", "addresses")).sort()).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.5"]);
  });

  it("says so when the subnet is full, and frees on release", () => {
    expect(alloc("d").out).toBe("n 10.0.0.4\n");
    expect(alloc("e").out).toBe("n 10.0.0.6\n");
    expect(alloc("f").err).toContain("network n (10.0.0.0/29) has no free address left");
    run(releaseScript(layout, "b"));
    expect(alloc("f").out).toBe("n 10.0.0.3\n");
  });

  it("allocates from the dynamic range only, while static addresses may lie outside it", () => {
    mkdirSync(join(dir, "r", "addresses"), { recursive: true });
    const req = (container: string, address?: string) =>
      run(allocateScript(layout, container, [{ network: "r", subnet: "10.0.2.0/24", gateway: "10.0.2.1", dynamicRange: "10.0.2.128/30", address }]));
    expect(req("s", "10.0.2.10").out).toBe("r 10.0.2.10\n");
    expect(["x", "y", "z", "w"].map((c) => req(c).out)).toEqual(["r 10.0.2.128\n", "r 10.0.2.129\n", "r 10.0.2.130\n", "r 10.0.2.131\n"]);
    expect(req("v").err).toContain("network r (10.0.2.128/30) has no free address left");
  });

  it("refuses a network that is not on the host", () => {
    expect(run(allocateScript(layout, "a", [{ network: "nope", subnet: "10.0.1.0/24", gateway: "10.0.1.1" }])).err).toContain(
      'network "nope" is not on the host',
    );
  });
});

describe("reading a container's network probe", () => {
  const att: Attachment = {
    index: 0,
    network: "front",
    bridge: "ks-front",
    address: "10.231.1.2",
    bits: 24,
    gateway: "10.231.1.1",
    veth: vethName("kslice", "web", 0, "front"),
    alias: "kslice/container/web/front",
    mac: macFor(parseInt("0ae70102", 16)),
    egress: 1_000_000,
    // unguarded: the listing below has no anti-spoofing elements (guard.test.ts reads those)
    guard: false,
  };
  const ports = [{ protocol: "tcp" as const, hostAddress: "127.0.0.1", hostPort: 8080, address: "10.231.1.2", containerPort: 80 }];
  const comments = ruleComments("c:web", portRules(ports)).map((c) => `nft ${c}`);
  const healthy = [
    "host 0 ks-front/0x1003/41",
    "in 0 qdisc noqueue 0: dev ks0 root refcnt 2",
    "L 1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536",
    "L 2: eth0@if41: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc tbf state UP",
    "A 1: lo    inet 127.0.0.1/8 scope host lo",
    "A 2: eth0    inet 10.231.1.2/24 scope global eth0\\       valid_lft forever",
    "route default via 10.231.1.1 dev eth0 ",
    "Q qdisc noqueue 0: dev lo root refcnt 2",
    "Q qdisc tbf 8001: dev eth0 root refcnt 2 rate 1Mbit burst 16000b lat 50ms",
    "localnet ks-front 1",
    ...comments,
  ].join("\n");

  it("sees a healthy attachment as such", () => {
    expect(parseNetProbe(healthy, "web", [att], ports)).toEqual({ attachments: [], ports: false });
    expect(att.mac).toBe("02:42:0a:e7:01:02");
  });

  it.each([
    ["detached from the bridge", "host 0 ks-front/", "host 0 /"],
    ["down", "/0x1003/", "/0x1002/"],
    ["a peer in another namespace", "eth0@if41", "eth0@if7"],
    ["another address", "inet 10.231.1.2/24", "inet 10.231.1.9/24"],
    ["its address removed", "A 2: eth0    inet 10.231.1.2/24", "A 2: eth0    inet6 fe80::42/64"],
    ["its default route gone", "route default via 10.231.1.1 dev eth0", "route "],
    ["its shaping removed", "rate 1Mbit", ""],
    ["a different rate", "rate 1Mbit", "rate 10Mbit"],
  ])("finds an attachment %s", (_what, from, to) => {
    expect(parseNetProbe(healthy.replace(from, to), "web", [att], ports).attachments).toEqual([0]);
  });

  it("finds flushed port rules, and rules for another declaration", () => {
    expect(
      parseNetProbe(
        healthy
          .split("\n")
          .filter((l) => !l.startsWith("nft"))
          .join("\n"),
        "web",
        [att],
        ports,
      ).ports,
    ).toBe(true);
    expect(parseNetProbe(healthy, "web", [att], [{ ...ports[0]!, containerPort: 81 }]).ports).toBe(true);
  });

  it("needs route_localnet on the bridge of a port published on the host's loopback, and only there", () => {
    expect(parseNetProbe(healthy.replace("localnet ks-front 1", "localnet ks-front 0"), "web", [att], ports).ports).toBe(true);
    expect(loopbackBridges([att], ports)).toEqual(["ks-front"]);
    expect(loopbackBridges([att], [{ ...ports[0]!, hostAddress: "0.0.0.0" }])).toEqual(["ks-front"]);
    expect(loopbackBridges([att], [{ ...ports[0]!, hostAddress: "192.0.2.7" }])).toEqual([]);
  });
});

describe("route_localnet records (a temp dir stands in for /run/<prefix>)", () => {
  const run = mkdtempSync(join(tmpdir(), "kslice-localnet-"));
  const l = { runDir: run } as unknown as HostLayout;
  afterAll(() => rmSync(run, { recursive: true, force: true }));
  const marks = () => execFileSync("sh", ["-c", `cd ${run} && find localnet -type f 2>/dev/null | sort`], { encoding: "utf8" }).trim();

  it("keeps a bridge's record while any container needs it, and removes it with the last", () => {
    execFileSync("sh", ["-c", localnetScript(l, "a", ["ks-x", "ks-y"])]);
    execFileSync("sh", ["-c", localnetScript(l, "b", ["ks-x"])]);
    expect(marks()).toBe("localnet/ks-x/a\nlocalnet/ks-x/b\nlocalnet/ks-y/a");
    execFileSync("sh", ["-c", localnetScript(l, "a", [])]);
    expect(marks()).toBe("localnet/ks-x/b");
    execFileSync("sh", ["-c", localnetScript(l, "b", [])]);
    expect(marks()).toBe("");
    expect(readdirSync(run)).toEqual(["localnet.lock"]);
  });
});

describe("a network's isolation rules", () => {
  it("match every kslice interface (ks*), not only the prefix's own bridges", () => {
    expect(
      networkRules("ks-a", "10.0.0.0/24", false, true)
        .filter((r) => r.chain === "forward")
        .map((r) => r.rule),
    ).toEqual(['iifname "ks-a" oifname "ks*" oifname != "ks-a" drop', 'oifname "ks-a" iifname "ks*" iifname != "ks-a" drop']);
  });
});

describe("resolv.conf and hosts", () => {
  it("takes the host's nameservers except loopback ones", () => {
    expect(hostNameservers("nameserver 127.0.0.53\nnameserver 10.255.255.53\n# x\nnameserver ::1\n")).toEqual(["10.255.255.53"]);
    expect(resolvConf(undefined, "nameserver 127.0.0.53\nnameserver 192.0.2.1\n")).toContain("nameserver 192.0.2.1\n");
    expect(resolvConf({ nameservers: ["192.0.2.9"], search: ["a.example"], options: ["ndots:2"] }, "nameserver 192.0.2.1")).toBe(
      "# written by kslice from the container's declaration\nnameserver 192.0.2.9\nsearch a.example\noptions ndots:2\n",
    );
  });

  it("names the container on each of its addresses, or 127.0.1.1 without one", () => {
    expect(hostsFile("web", ["10.231.1.2"], { db: "10.231.1.9" })).toContain("10.231.1.2\tweb\n10.231.1.9\tdb\n");
    expect(hostsFile("web", ["10.231.1.2", "10.231.2.7"], {})).toContain(
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.231.1.2\tweb\n10.231.2.7\tweb\n",
    );
    expect(hostsFile("web", [], {})).toContain("127.0.1.1\tweb\n");
    expect(hostnameFile("web")).toBe("web\n");
  });
});

describe("the read-only test that lets a start skip the nftables lock (a stand-in nft prints a listing)", () => {
  const bin = mkdtempSync(join(tmpdir(), "kslice-nft-"));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  const mine = ruleComments("c:web", portRules([{ protocol: "tcp", hostAddress: "0.0.0.0", hostPort: 8080, address: "10.1.0.2", containerPort: 80 }]));
  const rule = (comment: string) => `\t\ttcp dport 1 accept comment "${comment}"`;
  // exit status of holdsExactly against a table holding rules with these comments (none: no table)
  const holds = (comments: string[] | undefined) => {
    const listing = comments ? ["table ip t {", "\tchain ports {", ...comments.map(rule), "\t}", "}"].join("\n") : "";
    writeFileSync(
      join(bin, "nft"),
      comments ? `#!/bin/sh\ncat <<'EOF'\n${listing}\nEOF\n` : "#!/bin/sh\necho 'Error: No such file or directory' >&2; exit 1\n",
      { mode: 0o755 },
    );
    try {
      execFileSync("sh", ["-c", holdsExactly("t", [...baseComments, ...mine], ["k:base", "c:web"])], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        stdio: "ignore",
      });
      return 0;
    } catch (e) {
      return (e as { status: number }).status;
    }
  };

  it("passes only when the base rules and the owner's are there, each once, whatever other owners hold", () => {
    expect(holds([...baseComments, ...mine])).toBe(0);
    expect(holds([...mine, ...baseComments, "c:webx 0/1 11111111", "c:other 0/1 22222222", "n:net 0/2 33333333"])).toBe(0);
  });

  it.each([
    ["no table", undefined],
    ["a base rule missing (the loopback guard)", [...baseComments.slice(0, 3), ...mine]],
    ["the owner's rule missing", [...baseComments]],
    ["an owner's rule of an older declaration", [...baseComments, ...mine, "c:web 0/2 44444444"]],
    ["a rule twice", [...baseComments, ...mine, ...mine]],
    ["a base rule twice", [...baseComments, baseComments[3]!, ...mine]],
  ])("fails with %s, so the ensure lists again under the lock", (_, comments) => {
    expect(holds(comments)).toBe(1);
  });
});
