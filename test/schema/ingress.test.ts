import { describe, expect, it } from "vitest";
import { containerArgs } from "../../schema/container";
import { ingressFailures, ipv6SourceFailures, parseCidr, parsePortRange, resolveIngress } from "../../schema/ingress";
import { parseInput } from "../../schema/issues";
import { networkArgs } from "../../schema/network";

const parse = (ingress: unknown) => parseInput(containerArgs, { host: { connection: { type: "local" } }, name: "web", command: ["sleep", "1"], ingress });

describe("ingress rules (schema)", () => {
  it("takes CIDRs, containers and networks with protocols and port ranges", () => {
    const r = parse([
      { from: [{ cidr: "10.0.0.0/8" }, { container: "db" }], ports: [80, "8000-8099"] },
      { from: [{ network: "lan" }], protocol: "udp", ports: [53] },
      { from: [{ cidr: "0.0.0.0/0" }], protocol: "icmp" },
    ]);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.ingress![0]!.protocol).toBe("tcp");
    expect(parse([]).ok).toBe(true);
    const none = parse(undefined);
    expect(none.ok && none.value.ingress).toBeUndefined();
  });

  it("refuses a bad port, a bad CIDR, a source of two kinds and ports on ICMP, naming the input and the value", () => {
    const fail = (ingress: unknown) => {
      const r = parse(ingress);
      return r.ok ? [] : r.failures;
    };
    expect(fail([{ from: [{ cidr: "10.0.0.0/8" }], ports: [70000] }])).toEqual([
      { property: "ingress.0.ports.0", reason: 'got 70000; expected a port from 1 to 65535 or a range like "8000-8099"' },
    ]);
    expect(fail([{ from: [{ cidr: "10.0.0.0/8" }], ports: ["90-80"] }])[0]!.reason).toContain('got "90-80"');
    expect(fail([{ from: [{ cidr: "10.0.0.1/8" }] }])).toEqual([
      {
        property: "ingress.0.from.0.cidr",
        reason: 'got "10.0.0.1/8"; expected an IPv4 or IPv6 address, or a CIDR with zero host bits, like "10.88.0.0/16" or "fd00:88::/64"',
      },
    ]);
    // IPv6: host bits set, a bad address, a length past 128
    expect(fail([{ from: [{ cidr: "fd96:1::5/64" }] }])).toEqual([
      {
        property: "ingress.0.from.0.cidr",
        reason: 'got "fd96:1::5/64"; expected an IPv4 or IPv6 address, or a CIDR with zero host bits, like "10.88.0.0/16" or "fd00:88::/64"',
      },
    ]);
    expect(fail([{ from: [{ cidr: "fd96::1::2" }] }])[0]!.property).toBe("ingress.0.from.0.cidr");
    expect(fail([{ from: [{ cidr: "fd96::/129" }] }])[0]!.property).toBe("ingress.0.from.0.cidr");
    expect(fail([{ from: [{ cidr: "fd96:1::/64" }, { cidr: "::/0" }, { cidr: "FD96:1::7" }], ports: [80] }])).toEqual([]);
    expect(fail([{ from: [{ cidr: "300.1.1.1" }] }])[0]!.property).toBe("ingress.0.from.0.cidr");
    expect(fail([{ from: [{ cidr: "10.0.0.0/8", container: "db" }] }])[0]).toMatchObject({
      property: "ingress.0.from.0",
      reason: expect.stringContaining("expected exactly one of cidr, container or network"),
    });
    expect(fail([{ from: [{ cidr: "10.0.0.0/8" }], protocol: "icmp", ports: [1] }])[0]!.property).toBe("ingress.0.ports");
    expect(fail([{ from: [] }])[0]!.property).toBe("ingress.0.from");
    expect(fail([{ from: [{ container: "../x" }] }])[0]!.property).toBe("ingress.0.from.0.container");
  });

  it("a Network takes ingress as the default of its containers", () => {
    const r = parseInput(networkArgs, {
      host: { connection: { type: "local" } },
      name: "lan",
      subnet: "10.231.0.0/24",
      ingress: [{ from: [{ cidr: "10.1.0.0/16" }], ports: ["x"] }],
    });
    expect(r.ok ? [] : r.failures).toEqual([{ property: "ingress.0.ports.0", reason: 'got "x"; expected a port from 1 to 65535 or a range like "8000-8099"' }]);
  });

  it("port ranges", () => {
    expect(parsePortRange(80)).toEqual([80, 80]);
    expect(parsePortRange("1-65535")).toEqual([1, 65535]);
    expect(parsePortRange(0)).toBeUndefined();
    expect(parsePortRange(8.5)).toBeUndefined();
    expect(parsePortRange("80-")).toBeUndefined();
  });

  it("resolves sources: a container to its addresses, a network to its subnet, deduplicated", () => {
    const r = parse([
      { from: [{ container: "db" }, { network: "lan" }, { cidr: "10.9.9.9" }], ports: [80, "80", "81-82"] },
      { from: [{ cidr: "10.9.9.9/32" }], ports: [80] },
      { from: [{ cidr: "0.0.0.0/0" }], protocol: "icmp" },
    ]);
    if (!r.ok) throw new Error("parse");
    const flows = resolveIngress(
      r.value.ingress!,
      (n) => (n === "db" ? ["10.231.1.7", "10.231.2.7"] : undefined),
      (n) => (n === "lan" ? ["10.231.1.0/24"] : undefined),
    );
    expect(flows.map((f) => `${f.source} ${f.protocol} ${f.ports}`)).toEqual([
      "10.231.1.7/32 tcp 80",
      "10.231.1.7/32 tcp 81-82",
      "10.231.2.7/32 tcp 80",
      "10.231.2.7/32 tcp 81-82",
      "10.231.1.0/24 tcp 80",
      "10.231.1.0/24 tcp 81-82",
      "10.9.9.9/32 tcp 80",
      "10.9.9.9/32 tcp 81-82",
      "0.0.0.0/0 icmp 0-65535",
    ]);
  });

  it("resolves IPv6 sources: a container's IPv6 addresses as /128, a dual-stack network's subnet6, CIDRs in canonical form", () => {
    const r = parse([
      { from: [{ container: "db" }, { network: "lan" }, { cidr: "FD96:0:0::7" }], ports: [80] },
      { from: [{ cidr: "::/0" }], protocol: "icmp" },
      { from: [{ network: { name: "ref", subnet: "10.196.3.0/24", gateway: "10.196.3.1", bridge: "ks-ref", subnet6: "fd96:3::/64" } }], protocol: "udp" },
    ]);
    if (!r.ok) throw new Error(JSON.stringify(r.failures));
    const flows = resolveIngress(
      r.value.ingress!,
      (n) => (n === "db" ? ["10.196.1.7", "fd96:1::7"] : undefined),
      (n) => (n === "lan" ? ["10.196.1.0/24", "fd96:1::/64"] : undefined),
    );
    expect(flows.map((f) => `${f.source} ${f.protocol} ${f.ports}`)).toEqual([
      "10.196.1.7/32 tcp 80",
      "fd96:1::7/128 tcp 80",
      "10.196.1.0/24 tcp 80",
      "fd96:1::/64 tcp 80",
      "fd96::7/128 tcp 80",
      "::/0 icmp 0-65535",
      "10.196.3.0/24 udp 0-65535",
      "fd96:3::/64 udp 0-65535",
    ]);
    expect(parseCidr("fd96:1:0::/64")).toEqual({ cidr: "fd96:1::/64", v6: true });
    expect(parseCidr("10.196.0.1")).toEqual({ cidr: "10.196.0.1/32", v6: false });
  });

  it("refuses IPv6 CIDR sources where nothing has an IPv6 address, naming the input", () => {
    const r = parse([{ from: [{ cidr: "10.0.0.0/8" }, { cidr: "fd96::/16" }] }, { from: [{ network: "lan" }, { cidr: "::/0" }] }]);
    if (!r.ok) throw new Error("parse");
    expect(ipv6SourceFailures("ingress", r.value.ingress!, "network lan has no subnet6 (IPv4 only)")).toEqual([
      {
        property: "ingress.0.from.1.cidr",
        reason: 'got "fd96::/16", an IPv6 source, but network lan has no subnet6 (IPv4 only); expected an IPv4 address or CIDR, or a subnet6 on the Network',
      },
      {
        property: "ingress.1.from.1.cidr",
        reason: 'got "::/0", an IPv6 source, but network lan has no subnet6 (IPv4 only); expected an IPv4 address or CIDR, or a subnet6 on the Network',
      },
    ]);
  });

  it("names an unknown container or network at check, with the value and what was expected", () => {
    const r = parse([{ from: [{ container: "ghost" }, { network: "nowhere" }, { container: "db" }] }]);
    if (!r.ok) throw new Error("parse");
    const f = ingressFailures(
      "ingress",
      r.value.ingress!,
      (n) => n === "db",
      () => false,
      "on host local under prefix p",
    );
    expect(f.map((x) => x.property)).toEqual(["ingress.0.from.0.container", "ingress.0.from.1.network"]);
    expect(f[0]!.reason).toMatch(/^got "ghost"; no container of that name .* on host local under prefix p \(expected an existing container/);
    expect(f[1]!.reason).toMatch(/^got "nowhere"; no such network on host local under prefix p/);
  });
});
