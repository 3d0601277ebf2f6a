// Dual-stack networks' inputs: IPv6 arithmetic and the refusals at check (preview), each naming
// the input, the bad value and what was expected.
import { describe, expect, it } from "vitest";
import { containerArgs } from "../../schema/container";
import { canonical6, formatIPv6, isHostAddress6, overlaps6, parseIPv6, parseSubnet6 } from "../../schema/ipv6";
import { parseInput } from "../../schema/issues";
import { defaultGateway6, networkArgs } from "../../schema/network";
import { chooseAddress6 } from "../../provider/kernel/network/allocate";
import { guardElements, wantedGuardLines } from "../../provider/kernel/network/guard";
import { networkRules6, portRules, portRules6 } from "../../provider/kernel/network/nft";

const host = { connection: { type: "local" } };
const netFailures = (input: object) => {
  const r = parseInput(networkArgs, { host, name: "front", subnet: "10.236.1.0/24", ...input });
  return r.ok ? [] : r.failures;
};
const ref = { name: "front", subnet: "10.236.1.0/24", gateway: "10.236.1.1", bridge: "ks-front", subnet6: "fd36:1::/64", gateway6: "fd36:1::1" };
const ctrFailures = (input: object) => {
  const r = parseInput(containerArgs, { host, name: "web", command: ["true"], ...input });
  return r.ok ? [] : r.failures;
};

describe("IPv6 arithmetic", () => {
  it("parses addresses and prints them as the kernel and nft do (RFC 5952)", () => {
    expect(formatIPv6(parseIPv6("FD36:0001:0:0:0:0:0:0002")!)).toBe("fd36:1::2");
    expect(formatIPv6(parseIPv6("2001:db8:0:0:1:0:0:1")!)).toBe("2001:db8::1:0:0:1");
    expect(formatIPv6(parseIPv6("1:0:3:4:5:6:7:8")!)).toBe("1:0:3:4:5:6:7:8");
    expect(formatIPv6(0n)).toBe("::");
    for (const bad of ["fd36::1::2", "12345::", "fd36:::1", "1:2:3:4:5:6:7", "10.0.0.1", "fe80::1%eth0", "g::1"]) expect(parseIPv6(bad), bad).toBeUndefined();
    expect(canonical6("fd36:0::0a")).toBe("fd36::a");
  });

  it("parses prefixes with zero host bits, tells host addresses and overlaps", () => {
    const s = parseSubnet6("fd36:1::/64")!;
    expect(s.bits).toBe(64);
    expect(parseSubnet6("fd36:1::1/64")).toBeUndefined();
    expect(parseSubnet6("fd36:1::/129")).toBeUndefined();
    expect(isHostAddress6(s, parseIPv6("fd36:1::")!)).toBe(false);
    expect(isHostAddress6(s, parseIPv6("fd36:1::ffff:ffff:ffff:ffff")!)).toBe(true);
    expect(isHostAddress6(s, parseIPv6("fd36:2::1")!)).toBe(false);
    expect(overlaps6(s, parseSubnet6("fd36::/16")!)).toBe(true);
    expect(overlaps6(s, parseSubnet6("fd36:1::100/120")!)).toBe(true);
    expect(overlaps6(s, parseSubnet6("fd36:2::/64")!)).toBe(false);
    expect(defaultGateway6("fd36:1::/64")).toBe("fd36:1::1");
  });

  it("allocates the lowest free address after the gateway", () => {
    expect(chooseAddress6("fd36:1::/64", "fd36:1::1", new Set())).toBe("fd36:1::2");
    expect(chooseAddress6("fd36:1::/64", "fd36:1::1", new Set(["fd36:1::2", "fd36:1::4"]))).toBe("fd36:1::3");
    // a /126 holds ::1 (gateway) to ::3
    expect(chooseAddress6("fd36:1::/126", "fd36:1::1", new Set(["fd36:1::2", "fd36:1::3"]))).toBeUndefined();
  });

  it("allocates inside the dynamicRange6 only: its lowest free address, none when it is full", () => {
    expect(chooseAddress6("fd96:1::/64", "fd96:1::1", new Set(), "fd96:1::100/120")).toBe("fd96:1::100");
    expect(chooseAddress6("fd96:1::/64", "fd96:1::1", new Set(["fd96:1::100", "fd96:1::101"]), "fd96:1::100/120")).toBe("fd96:1::102");
    const full = new Set(Array.from({ length: 4 }, (_, i) => `fd96:1::10${i}`));
    expect(chooseAddress6("fd96:1::/64", "fd96:1::1", full, "fd96:1::100/126")).toBeUndefined();
    // a range starting at the prefix's first address skips it (the subnet-router anycast) and the gateway
    expect(chooseAddress6("fd96:1::/64", "fd96:1::2", new Set(), "fd96:1::/126")).toBe("fd96:1::1");
    expect(chooseAddress6("fd96:1::/64", "fd96:1::1", new Set(), "fd96:1::/126")).toBe("fd96:1::2");
  });
});

describe("a dual-stack Network's inputs", () => {
  it("takes an IPv6 prefix from /64 to /120 and a gateway inside it", () => {
    expect(netFailures({ subnet6: "fd36:1::/64" })).toEqual([]);
    expect(netFailures({ subnet6: "fd36:1::100/120", gateway6: "fd36:1::1fe" })).toEqual([]);
  });

  it("takes a dynamicRange6 inside the subnet6 without the gateway6; refuses one outside, holding the gateway6, with host bits or without a subnet6", () => {
    expect(netFailures({ subnet6: "fd96:1::/64", dynamicRange6: "fd96:1::100/120" })).toEqual([]);
    expect(netFailures({ subnet6: "fd96:1::/64", dynamicRange6: "fd96:1:0:0:8000::/65" })).toEqual([]);
    expect(netFailures({ subnet6: "fd96:1::/64", dynamicRange6: "fd96:2::/120" })).toEqual([
      { property: "dynamicRange6", reason: 'got "fd96:2::/120"; expected a range inside the subnet6 fd96:1::/64' },
    ]);
    // larger than the subnet6
    expect(netFailures({ subnet6: "fd96:1::/64", dynamicRange6: "fd96::/32" })[0]).toMatchObject({ property: "dynamicRange6" });
    // the default gateway6 (fd96:1::1), or a declared one, inside the range
    expect(netFailures({ subnet6: "fd96:1::/64", dynamicRange6: "fd96:1::/120" })).toEqual([
      {
        property: "dynamicRange6",
        reason: 'got "fd96:1::/120", which holds the gateway6 fd96:1::1; expected a range inside fd96:1::/64 without it, like "fd96:1:0:0:8000::/65"',
      },
    ]);
    expect(netFailures({ subnet6: "fd96:1::/64", gateway6: "fd96:1::105", dynamicRange6: "fd96:1::100/120" })[0]).toMatchObject({
      property: "dynamicRange6",
      reason: expect.stringContaining("which holds the gateway6 fd96:1::105"),
    });
    expect(netFailures({ subnet6: "fd96:1::/64", gateway6: "fd96:1::5", dynamicRange6: "fd96:1::/120" })[0]!.reason).toContain("holds the gateway6 fd96:1::5");
    expect(netFailures({ subnet6: "fd96:1::/64", dynamicRange6: "fd96:1::100/64" })).toEqual([
      { property: "dynamicRange6", reason: 'got "fd96:1::100/64"; expected an IPv6 prefix with zero host bits, like "fd36:1::100/120"' },
    ]);
    expect(netFailures({ dynamicRange6: "fd96:1::100/120" })).toEqual([
      { property: "dynamicRange6", reason: 'got "fd96:1::100/120" without a subnet6; declare the network\'s IPv6 prefix too' },
    ]);
  });

  it("refuses a bad prefix length, host bits, a gateway outside or without a prefix, naming the input and the value", () => {
    expect(netFailures({ subnet6: "fd36:1::/48" })).toEqual([{ property: "subnet6", reason: 'got "fd36:1::/48"; expected a prefix length from /64 to /120' }]);
    expect(netFailures({ subnet6: "fd36:1::/124" })[0]!.reason).toContain("from /64 to /120");
    expect(netFailures({ subnet6: "fd36:1::5/64" })).toEqual([
      { property: "subnet6", reason: 'got "fd36:1::5/64"; expected an IPv6 prefix with zero host bits, like "fd36:1::/64"' },
    ]);
    expect(netFailures({ subnet6: "fd36:1::/64", gateway6: "fd36:2::1" })).toEqual([
      { property: "gateway6", reason: 'got "fd36:2::1"; expected a host address inside fd36:1::/64 (fd36:1::1 to fd36:1::ffff:ffff:ffff:ffff)' },
    ]);
    expect(netFailures({ gateway6: "fd36:1::1" })[0]).toMatchObject({ property: "gateway6", reason: expect.stringContaining("without a subnet6") });
    expect(netFailures({ subnet6: "fd36:1::/64", gateway6: "10.0.0.1" })[0]).toMatchObject({
      property: "gateway6",
      reason: 'got "10.0.0.1"; expected an IPv6 address like "fd36:1::5"',
    });
  });

  it("refuses a container's address6 outside the subnet6, on the gateway, or on an IPv4-only network", () => {
    expect(ctrFailures({ networks: [{ network: ref, address6: "fd36:1::10" }] })).toEqual([]);
    expect(ctrFailures({ networks: [{ network: ref, address6: "fd36:2::10" }] })).toEqual([
      {
        property: "networks.0.address6",
        reason: 'got "fd36:2::10"; expected an address inside front\'s subnet6 fd36:1::/64 (fd36:1::1 to fd36:1::ffff:ffff:ffff:ffff)',
      },
    ]);
    expect(ctrFailures({ networks: [{ network: ref, address6: "fd36:1::1" }] })[0]!.reason).toContain("IPv6 gateway");
    // /etc/hosts entries may be IPv6 addresses
    expect(ctrFailures({ networks: [{ network: ref }], hosts: { db: "fd36:1::5", web: "10.236.1.9" } })).toEqual([]);
    expect(ctrFailures({ hosts: { db: "fd36:1::5::1" } })).toHaveLength(1);
    const v4only = { name: "front", subnet: "10.236.1.0/24", gateway: "10.236.1.1", bridge: "ks-front" };
    expect(ctrFailures({ networks: [{ network: v4only, address6: "fd36:1::10" }] })).toEqual([
      {
        property: "networks.0.address6",
        reason: 'got "fd36:1::10", but network front has no subnet6 (IPv4 only); declare one on the Network, or leave address6 out',
      },
    ]);
  });
});

describe("the kernel objects of a dual-stack network", () => {
  it("NAT66 and isolation in the ip6 table; published ports to every address answer on IPv6 too", () => {
    expect(networkRules6("ks-front", "fd36:1::/64", true, true).map((r) => `${r.chain}: ${r.rule}`)).toEqual([
      'postrouting: ip6 saddr fd36:1::/64 oifname != "ks-front" masquerade',
      'forward: iifname "ks-front" oifname "ks*" oifname != "ks-front" drop',
      'forward: oifname "ks-front" iifname "ks*" iifname != "ks-front" drop',
    ]);
    const port = { protocol: "tcp" as const, hostPort: 18960, containerPort: 80, address: "10.236.1.2", address6: "fd36:1::2" };
    expect(
      portRules6([
        { ...port, hostAddress: "0.0.0.0" },
        { ...port, hostAddress: "127.0.0.1" },
      ]),
    ).toEqual([{ chain: "ports", rule: "tcp dport 18960 dnat to [fd36:1::2]:80" }]);
    // a port on an IPv6 host address: DNAT in the ip6 table for that address alone, none in the ip table
    const on6 = { ...port, hostAddress: "fd96:8::1" };
    expect(portRules6([on6])).toEqual([{ chain: "ports", rule: "ip6 daddr fd96:8::1 tcp dport 18960 dnat to [fd36:1::2]:80" }]);
    expect(portRules([on6, { ...port, hostAddress: "10.196.0.1" }])).toEqual([
      { chain: "ports", rule: "ip daddr 10.196.0.1 tcp dport 18960 dnat to 10.236.1.2:80" },
    ]);
  });

  it('publishes on an IPv6 host address of a dual-stack network only; refuses IPv6 loopback, "::" and an IPv6 address on an IPv4-only network', () => {
    const v4only = { name: "front", subnet: "10.236.1.0/24", gateway: "10.236.1.1", bridge: "ks-front" };
    expect(ctrFailures({ networks: [{ network: ref }], ports: [{ hostPort: 39602, hostAddress: "FD96:8:0::1" }] })).toEqual([]);
    expect(ctrFailures({ networks: [{ network: v4only }], ports: [{ hostPort: 39602, hostAddress: "fd96:8::1" }] })).toEqual([
      {
        property: "ports.0.hostAddress",
        reason: 'got "fd96:8::1", an IPv6 address, but network front has no subnet6 (IPv4 only); publish on an IPv4 address, or on a dual-stack network',
      },
    ]);
    expect(ctrFailures({ networks: [{ network: ref }], ports: [{ hostPort: 39602, hostAddress: "::1" }] })).toEqual([
      {
        property: "ports.0.hostAddress",
        reason: 'got "::1"; the kernel never routes IPv6 loopback to a container: publish to "127.0.0.1" for the host\'s loopback',
      },
    ]);
    expect(ctrFailures({ networks: [{ network: ref }], ports: [{ hostPort: 39602, hostAddress: "::" }] })[0]!.reason).toContain('give "0.0.0.0"');
    expect(ctrFailures({ networks: [{ network: ref }], ports: [{ hostPort: 39602, hostAddress: "host" }] })[0]!.reason).toBe(
      'got "host"; expected an IPv4 or IPv6 address of the host, like "192.0.2.10" or "fd00::10", or "0.0.0.0" for every address',
    );
    // the same port on every address and on an IPv6 one clash (in any notation); on two IPv6 addresses, or an IPv4 and an IPv6 one, not
    const two = (a: string, b: string) =>
      ctrFailures({
        networks: [{ network: ref }],
        ports: [
          { hostPort: 39602, hostAddress: a },
          { hostPort: 39602, hostAddress: b },
        ],
      });
    expect(two("0.0.0.0", "fd96:8::1")[0]!.property).toBe("ports.1.hostPort");
    expect(two("fd96:8::1", "FD96:8:0:0::1")[0]!.property).toBe("ports.1.hostPort");
    expect(two("fd96:8::1", "fd96:7::1")).toEqual([]);
    expect(two("10.196.0.1", "fd96:7::1")).toEqual([]);
  });

  it("guards a dual-stack veth with its IPv6 address in addr6 and na6; an IPv4-only one has none", () => {
    const g = { veth: "ks0123", mac: "02:00:0a:ec:01:02", address: "10.236.1.2", address6: "fd36:1::2" };
    expect(guardElements("t", [g])).toContain('element bridge t na6 { "ks0123" . 0xfd360001000000000000000000000002 }');
    expect(wantedGuardLines(g)).toContain('G addr6 "ks0123" . fd36:1::2');
    expect(wantedGuardLines({ ...g, address6: undefined }).some((l) => l.includes("6 "))).toBe(false);
  });
});
