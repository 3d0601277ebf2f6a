import { describe, expect, it } from "vitest";
import { containerArgs } from "../../schema/container";
import { formatIPv4, isHostAddress, overlaps, parseIPv4, parseSubnet } from "../../schema/ipv4";
import { parseInput } from "../../schema/issues";
import { defaultBridge, defaultGateway, networkArgs } from "../../schema/network";
import { parseRate } from "../../schema/units";

const host = { connection: { type: "local" } };
const netFailures = (input: object) => {
  const r = parseInput(networkArgs, { host, name: "front", subnet: "10.231.1.0/24", ...input });
  return r.ok ? [] : r.failures;
};
const ref = { name: "front", subnet: "10.231.1.0/24", gateway: "10.231.1.1", bridge: "ks-front" };
const ctrFailures = (input: object) => {
  const r = parseInput(containerArgs, { host, name: "web", command: ["true"], ...input });
  return r.ok ? [] : r.failures;
};

describe("IPv4 arithmetic", () => {
  it("parses and formats addresses and subnets", () => {
    expect(parseIPv4("10.231.1.2")).toBe(10 * 2 ** 24 + 231 * 2 ** 16 + 1 * 256 + 2);
    expect(formatIPv4(parseIPv4("255.255.255.255")!)).toBe("255.255.255.255");
    for (const bad of ["10.1.1", "10.1.1.256", "010.1.1.1", "a.b.c.d", "1.2.3.4 "]) expect(parseIPv4(bad), bad).toBeUndefined();
    expect(parseSubnet("10.231.1.0/24")).toEqual({ base: parseIPv4("10.231.1.0"), bits: 24, size: 256 });
    expect(parseSubnet("10.231.1.5/24")).toBeUndefined(); // host bits set
    expect(parseSubnet("10.231.1.0/33")).toBeUndefined();
  });

  it("tells host addresses and overlaps", () => {
    const s = parseSubnet("10.231.1.0/24")!;
    expect(isHostAddress(s, parseIPv4("10.231.1.0")!)).toBe(false);
    expect(isHostAddress(s, parseIPv4("10.231.1.255")!)).toBe(false);
    expect(isHostAddress(s, parseIPv4("10.231.1.254")!)).toBe(true);
    expect(overlaps(s, parseSubnet("10.231.0.0/16")!)).toBe(true);
    expect(overlaps(s, parseSubnet("10.231.1.128/25")!)).toBe(true);
    expect(overlaps(s, parseSubnet("10.231.2.0/24")!)).toBe(false);
  });

  it("parses rates in tc's decimal units", () => {
    expect(parseRate("10mbit")).toBe(10_000_000);
    expect(parseRate("1.5Gbit")).toBe(1_500_000_000);
    expect(parseRate("512kbit")).toBe(512_000);
    expect(parseRate("10MB")).toBeUndefined();
  });
});

describe("networkArgs", () => {
  it("fills nothing it does not know and defaults the rest", () => {
    const r = parseInput(networkArgs, { host, name: "front", subnet: "10.231.1.0/24" });
    expect(r.ok && r.value).toMatchObject({ nat: false, isolated: true });
    expect(defaultGateway("10.231.1.0/24")).toBe("10.231.1.1");
    expect(defaultBridge("kslice", "front")).toBe("ks-front");
    // another prefix, or a long name: a digest that fits IFNAMSIZ and differs per prefix
    expect(defaultBridge("kslice-t1", "front")).toMatch(/^ks[0-9a-f]{11}$/);
    expect(defaultBridge("kslice-t1", "front")).not.toBe(defaultBridge("kslice-t2", "front"));
    expect(defaultBridge("kslice", "a-very-long-network")).toHaveLength(13);
  });

  it.each([
    [{ subnet: "10.231.1.7/24" }, "subnet", 'got "10.231.1.7/24"; expected an IPv4 subnet with zero host bits, like "10.88.1.0/24"'],
    [{ subnet: "10.231.1.0/31" }, "subnet", 'got "10.231.1.0/31"; expected a prefix length from /8 to /30'],
    [{ gateway: "10.231.2.1" }, "gateway", 'got "10.231.2.1"; expected a host address inside 10.231.1.0/24 (10.231.1.1 to 10.231.1.254)'],
    [{ gateway: "10.231.1.255" }, "gateway", 'got "10.231.1.255"; expected a host address inside 10.231.1.0/24'],
    [{ bridge: "ks-much-too-long-1" }, "bridge", 'got "ks-much-too-long-1" (18 characters); the kernel allows at most 15 in an interface name'],
    [{ bridge: "br0" }, "bridge", 'got "br0"; expected a name starting with "ks"'],
    [{ name: "Front" }, "name", "expected lower-case letters"],
    [{ dynamicRange: "10.231.2.0/25" }, "dynamicRange", 'got "10.231.2.0/25"; expected a range inside the subnet 10.231.1.0/24'],
    [{ nat: "yes" }, "nat", 'got "yes"; expected boolean'],
  ])("rejects %j at %s", (input, property, reason) => {
    const f = netFailures(input);
    expect(f.map((x) => x.property)).toEqual([property]);
    expect(f[0]!.reason).toContain(reason);
  });
});

describe("a container's networks and ports", () => {
  it("defaults ports to tcp on every address, container port = host port", () => {
    const r = parseInput(containerArgs, { host, name: "web", command: ["true"], networks: [{ network: ref }], ports: [{ hostPort: 8080 }] });
    expect(r.ok && r.value.ports).toEqual([{ hostPort: 8080, protocol: "tcp", hostAddress: "0.0.0.0" }]);
    expect(r.ok && r.value.networks).toEqual([{ network: ref }]);
  });

  it.each([
    [
      { networks: [{ network: ref, address: "10.231.9.5" }] },
      "networks.0.address",
      "expected an address inside front's subnet 10.231.1.0/24 (10.231.1.1 to 10.231.1.254)",
    ],
    [{ networks: [{ network: ref, address: "10.231.1.1" }] }, "networks.0.address", "which is front's gateway"],
    [{ networks: [{ network: ref, address: "10.231.1.255" }] }, "networks.0.address", "expected an address inside"],
    [{ networks: [{ network: ref }, { network: "front" }] }, "networks.1.network", 'got "front" twice'],
    [{ networks: [{ network: ref }], ports: [{ hostPort: 0 }] }, "ports.0.hostPort", "expected a port from 1 to 65535"],
    [{ networks: [{ network: ref }], ports: [{ hostPort: 80, containerPort: 70000 }] }, "ports.0.containerPort", "expected a port from 1 to 65535"],
    [{ networks: [{ network: ref }], ports: [{ hostPort: 80, protocol: "sctp" }] }, "ports.0.protocol", 'got "sctp"; expected one of "tcp", "udp"'],
    [
      { networks: [{ network: ref }], ports: [{ hostPort: 80 }, { hostPort: 80, hostAddress: "127.0.0.1" }] },
      "ports.1.hostPort",
      "got tcp 127.0.0.1:80, already published by ports[0]",
    ],
    [
      { networks: [{ network: ref }], ports: [{ hostPort: 80, network: "back" }] },
      "ports.0.network",
      'got "back"; expected one of the container\'s networks: "front"',
    ],
    [{ ports: [{ hostPort: 80 }] }, "ports.0", "a published port needs the container on a network"],
    [{ networks: [{ network: ref, bandwidth: { ingress: "1kbit" } }] }, "networks.0.bandwidth.ingress", "expected a rate of at least 8kbit"],
    [{ dns: { nameservers: ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"] } }, "dns.nameservers", "at most 3 nameservers"],
    [{ hosts: { "db.internal": "not-an-ip" } }, "hosts.db.internal", 'got "not-an-ip"; expected an IPv4 address'],
  ])("rejects %j at %s", (input, property, reason) => {
    const f = ctrFailures(input);
    expect(f.map((x) => x.property)).toEqual([property]);
    expect(f[0]!.reason).toContain(reason);
  });

  it("lets tcp and udp share a port, and two addresses share a port", () => {
    expect(ctrFailures({ networks: [{ network: ref }], ports: [{ hostPort: 53 }, { hostPort: 53, protocol: "udp" }] })).toEqual([]);
    expect(
      ctrFailures({
        networks: [{ network: ref }],
        ports: [
          { hostPort: 80, hostAddress: "127.0.0.1" },
          { hostPort: 80, hostAddress: "127.0.0.2" },
        ],
      }),
    ).toEqual([]);
  });
});
