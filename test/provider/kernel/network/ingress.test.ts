import { describe, expect, it } from "vitest";
import { allowHash, ingressElements, ingressHolds } from "../../../../provider/kernel/network/ingress";
import { linkLocalFor } from "../../../../provider/kernel/network/names";
import { parseProbeAll, probeTextFor } from "../../../../provider/kernel/network/probe-all";
import type { Attachment } from "../../../../provider/kernel/network/attach";
import type { Allowed } from "../../../../schema/ingress";

const allow: Allowed[] = [
  { source: "10.196.1.3/32", protocol: "tcp", ports: "8080" },
  { source: "fd96:1::3/128", protocol: "tcp", ports: "8080" },
  { source: "::/0", protocol: "icmp", ports: "0-65535" },
];

describe("declared ingress elements (ip and ip6 tables)", () => {
  it("puts each address in its family's table with the flows of that family; ICMP is ICMPv6 for IPv6", () => {
    const e = ingressElements("kslice-tv6", "web", [
      { address: "10.196.1.2", allow },
      { address: "fd96:1::2", allow },
    ]);
    const v4 = allowHash(allow.slice(0, 1));
    const v6 = allowHash(allow.slice(1));
    expect(e).toEqual([
      `element ip kslice-tv6 ingressed { 10.196.1.2 comment "${v4}" }`,
      "element ip kslice-tv6 drops { 10.196.1.2 : ingress_web }",
      "element ip kslice-tv6 allow { 10.196.1.2 . 10.196.1.3/32 . tcp . 8080 }",
      `element ip6 kslice-tv6 ingressed { fd96:1::2 comment "${v6}" }`,
      "element ip6 kslice-tv6 drops { fd96:1::2 : ingress_web }",
      "element ip6 kslice-tv6 allow { fd96:1::2 . fd96:1::3/128 . tcp . 8080 }",
      "element ip6 kslice-tv6 allow { fd96:1::2 . ::/0 . ipv6-icmp . 0-65535 }",
    ]);
  });

  it("reads an IPv6 address's elements from the ip6 table's lines (I6), and counts its flows", () => {
    const lines = [
      `I6 ingressed fd96:1::2 comment "${allowHash(allow.slice(1))}"`,
      'I6 drops fd96:1::2 : "ingress_web"',
      "I6 allow fd96:1::2 . fd96:1::3 . tcp . 8080",
      "I6 allow fd96:1::2 . ::/0 . ipv6-icmp . 0-65535",
      // an IPv4 line of the same text does not count for it
      'I ingressed fd96:1::2 comment "x"',
    ];
    expect(ingressHolds(lines, "web", "fd96:1::2", allow)).toBe(true);
    expect(ingressHolds(lines.slice(0, 3), "web", "fd96:1::2", allow)).toBe(false);
    expect(ingressHolds(lines, "web", "fd96:1::2", undefined)).toBe(false);
    expect(ingressHolds([], "web", "fd96:1::2", undefined)).toBe(true);
  });

  it("a probe of every container gives each its IPv6 ingress lines: its global and link-local addresses, no one else's", () => {
    const mac = "02:00:0a:c4:01:02";
    const att: Attachment = {
      ...{ index: 0, network: "lan", bridge: "br0", address: "10.196.1.2", bits: 24, gateway: "10.196.1.1", veth: "ksaaa", alias: "", mac, guard: false },
      ...{ address6: "fd96:1::2", bits6: 64, gateway6: "fd96:1::1" },
    };
    const ll = linkLocalFor(mac);
    const mine = [`I6 ingressed fd96:1::2 comment "x"`, `I6 drops ${ll} : "ingress_web"`, `I6 allow fd96:1::2 . ::/0 . tcp . 80`];
    const others = [`I6 ingressed fd96:1::20 comment "y"`, `I ingressed 10.196.1.20 comment "z"`];
    const view = parseProbeAll(["@@ingress", ...mine, ...others, "@@ns web 42", "L 2: eth0@if17: <UP>", ""].join("\n"));
    const text = probeTextFor(view, "web", [att], [])!.split("\n");
    expect(text.filter((l) => l.startsWith("I6 "))).toEqual(mine);
  });
});
