import { createHash } from "node:crypto";
import { shellQuote as q } from "../shell";
import type { Allowed } from "../../../schema/ingress";
import type { NftRule } from "./nft";

/**
 * Declared ingress (ARCHITECTURE.md, "Ingress rules"). Fixed rules in the prefix's ip table, at
 * the forward hook: a packet to an address in @ingressed goes through chain "ingress", which lets
 * replies (conntrack established/related) and published ports (DNATed) through, then what @allow
 * holds (destination . source . protocol . port range, an interval set), and counts and drops the
 * rest in the destination's named counter (map @drops). Allowed packets `return`, not accept: the
 * forward chain's isolation rules still judge them. Same-bridge traffic reaches the forward hook
 * only through br_netfilter, enabled per bridge by the network's ensure.sh (bridge.ts).
 */
export const ingressObjects = (t: string) => [
  `add set ${t} ingressed { type ipv4_addr; }`,
  `add set ${t} allow { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags interval; }`,
  `add map ${t} drops { type ipv4_addr : counter; }`,
  `add chain ${t} ingress`,
];

export const ingressRules: NftRule[] = [
  { chain: "forward", rule: "ip daddr @ingressed jump ingress" },
  { chain: "ingress", rule: "ct state established,related return" },
  { chain: "ingress", rule: "ct status dnat return" },
  { chain: "ingress", rule: "ip daddr . ip saddr . meta l4proto . th dport @allow return" },
  // its own rule: a missing counter (map element) must not skip the drop
  { chain: "ingress", rule: "counter name ip daddr map @drops" },
  { chain: "ingress", rule: "drop" },
];

/**
 * The same in the prefix's ip6 table, for a container's addresses on dual-stack networks (its
 * global IPv6 address and the link-local one of its MAC: a neighbour on the bridge reaches either).
 * Neighbour solicitations and advertisements addressed to it pass, as ARP does for IPv4 (the
 * anti-spoofing table judges what a container may claim in them); everything else as for IPv4.
 */
export const ingressObjects6 = (t: string) => [
  `add set ${t} ingressed { type ipv6_addr; }`,
  `add set ${t} allow { type ipv6_addr . ipv6_addr . inet_proto . inet_service; flags interval; }`,
  `add map ${t} drops { type ipv6_addr : counter; }`,
  `add chain ${t} ingress`,
];

export const ingressRules6: NftRule[] = [
  { chain: "forward", rule: "ip6 daddr @ingressed jump ingress" },
  { chain: "ingress", rule: "ct state established,related return" },
  { chain: "ingress", rule: "ct status dnat return" },
  { chain: "ingress", rule: "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } return" },
  { chain: "ingress", rule: "ip6 daddr . ip6 saddr . meta l4proto . th dport @allow return" },
  { chain: "ingress", rule: "counter name ip6 daddr map @drops" },
  { chain: "ingress", rule: "drop" },
];

/** The named counter of a container's dropped packets ("ingress_<name>": nft names start with a letter). */
export const ingressCounter = (container: string) => `ingress_${container}`;

/** One filtered address: the container's address on a network with rules, and the flows it accepts (sources of the address's family). */
export interface Filtered {
  address: string;
  allow: Allowed[];
}

/** An IPv6 address or prefix (a source or a destination of the ip6 table). */
export const isV6 = (address: string) => address.includes(":");

/** nft's name of a protocol in the family's @allow ("icmp" is ICMPv6 for IPv6). */
const protoIn = (v6: boolean, p: Allowed["protocol"]) => (v6 && p === "icmp" ? "ipv6-icmp" : p);

/** A digest of the flows let in to one address (element comments hold no quotes: hex). */
export const allowHash = (allow: Allowed[]) =>
  createHash("sha256")
    .update(
      allow
        .map((a) => `${a.source} ${a.protocol} ${a.ports}`)
        .sort()
        .join("\n"),
    )
    .digest("hex")
    .slice(0, 12);

/**
 * The set elements that filter these addresses, one statement a line (without add or delete): an
 * IPv4 address's in the ip table, an IPv6 one's in the ip6 table, each with the flows of its own
 * family (an IPv4 source never matches an IPv6 packet).
 */
export function ingressElements(table: string, container: string, filtered: Filtered[]): string[] {
  return filtered.flatMap((f) => {
    const v6 = isV6(f.address);
    const t = `${v6 ? "ip6" : "ip"} ${table}`;
    const allow = f.allow.filter((a) => isV6(a.source) === v6);
    return [
      // the comment names what @allow holds for it, so changed rules of the same number show as drift
      `element ${t} ingressed { ${f.address} comment "${allowHash(allow)}" }`,
      `element ${t} drops { ${f.address} : ${ingressCounter(container)} }`,
      ...allow.map((a) => `element ${t} allow { ${f.address} . ${a.source} . ${protoIn(v6, a.protocol)} . ${a.ports} }`),
    ];
  });
}

/** Pure: awk that turns `nft list set` output into "I <set> <element>" lines. */
export const ingressAwk = `awk '/^\\t(set|map) / { s = $2 } /elements = \\{/ { e = 1; sub(/^.*elements = \\{ */, "") } e { l = $0; d = sub(/ *\\}.*$/, "", l); n = split(l, p, ","); for (i = 1; i <= n; i++) { x = p[i]; gsub(/^[ \\t]+|[ \\t]+$/, "", x); if (x != "") print "I " s " " x } if (d) e = 0 }'`;

/**
 * The probe's lines: every element of the prefix's ingress sets ("I <set> <element>", e.g. `I allow
 * 10.0.0.2 . 10.0.0.0/24 . tcp . 80`), then the ip6 table's ("I6 <set> <element>"). The ip6 table
 * holds little besides these sets (its port rules, NAT66, isolation), so it is listed whole: one
 * process, none of whose other lines the awk takes; absent (an IPv4-only prefix), it prints nothing.
 */
export const ingressProbe = (table: string) =>
  [
    `{ for s in ingressed allow; do nft list set ip ${table} $s 2>/dev/null; done; nft list map ip ${table} drops 2>/dev/null; } | ${ingressAwk}`,
    `nft list table ip6 ${table} 2>/dev/null | ${ingressAwk} | sed 's/^I /I6 /'`,
  ].join("\n");

/**
 * Whether the listing holds what one address needs: `allow` undefined (not filtered) means no
 * element names it; otherwise it is in @ingressed with the digest of its wanted flows, its counter
 * in @drops, and @allow holds as many elements for it as wanted (nft prints ranges its own way, so
 * they are counted, not compared; a flushed or edited set shows in the count).
 */
export function ingressHolds(lines: string[], container: string, address: string, allowed: Allowed[] | undefined): boolean {
  const v6 = isV6(address);
  const tag = v6 ? "I6" : "I";
  const of = (set: string) => lines.filter((l) => l.startsWith(`${tag} ${set} ${address} `) || l === `${tag} ${set} ${address}`);
  if (!allowed) return of("ingressed").length === 0;
  const allow = allowed.filter((a) => isV6(a.source) === v6);
  const drops = of("drops");
  const marked = of("ingressed");
  return (
    marked.length === 1 &&
    marked[0] === `${tag} ingressed ${address} comment "${allowHash(allow)}"` &&
    drops.length === 1 &&
    drops[0]!.replace(/"/g, "").endsWith(`: ${ingressCounter(container)}`) &&
    of("allow").length === allow.length
  );
}

/**
 * Shell that makes the tables hold exactly `elements` for one container (recorded in `record`),
 * as guard.ts's guardApplyScript does for anti-spoofing, and its counter exists in each family it
 * filters (kept, with its count, across repairs). Nothing wanted: the recorded elements and the
 * counters go. `skeleton6`: the ip6 table's objects, made in the same transaction when an IPv6
 * address is filtered or the record still names one.
 */
export function ingressApplyScript(table: string, skeleton: string, record: string, container: string, elements: string[], skeleton6 = ""): string {
  const g = q(record);
  const recorded = recordedAs(record);
  const print = (prefix: string) => `printf '%s\\n' ${elements.map((e) => q(`${prefix}${e}`)).join(" ")}`;
  if (!elements.length) return ingressRemoveScript(table, record, container);
  const want6 = elements.some((e) => e.startsWith(`element ip6 `));
  const counter6 = `add counter ip6 ${table} ${ingressCounter(container)}`;
  return [
    `{ cat ${g} 2>/dev/null; ${print("")}; } | sort -u > ${g}.new && mv -f ${g}.new ${g} || exit 1`,
    // the record names an IPv6 element (old or new): the ip6 table's objects first, so its add and delete cannot fail
    want6 ? `s6=1` : `s6=; grep -q '^element ip6 ' ${g} && s6=1`,
    `err=$({ printf '%s\\n' ${q(skeleton)} ${q(`add counter ip ${table} ${ingressCounter(container)}`)}; [ -z "$s6" ] || printf '%s\\n' ${q(skeleton6)} ${q(counter6)}; ${recorded("add")}; ${recorded("delete")}; ${print("add ")}; } | nft -f - 2>&1) || { echo "ingress: cannot set the elements in table ip ${table}: $err" >&2; exit 1; }`,
    ...(want6 ? [] : [`[ -z "$s6" ] || nft delete counter ip6 ${table} ${ingressCounter(container)} 2>/dev/null`]),
    `${print("")} > ${g}.new && mv -f ${g}.new ${g}`,
  ].join("\n");
}

/**
 * The recorded elements as `verb` statements, each key once: an element's comment is not part of
 * its key, and the record may hold one address with an old and a new comment. `skip`: a grep
 * pattern of lines left out.
 */
const recordedAs =
  (record: string, skip = "") =>
  (verb: string) =>
    `sed 's/ comment "[^"]*"//' ${q(record)} | ${skip ? `grep -v "${skip}" | ` : ""}sort -u | sed 's/^/${verb} /'`;

/** Shell that removes the container's recorded elements, the record, and its counters. */
export function ingressRemoveScript(table: string, record: string, container: string): string {
  const g = q(record);
  // the ip6 table's elements only where that table still is (its last dual-stack network may be gone)
  const recorded = recordedAs(record, "$x");
  const counter = (family: string) => `nft delete counter ${family} ${table} ${ingressCounter(container)} 2>/dev/null`;
  return [
    // nothing recorded, no counter made (it is made in the transaction that adds the elements): no nft at all
    `[ -s ${g} ] || { rm -f ${g}; exit 0; }`,
    `nft list table ip ${table} >/dev/null 2>&1 || { rm -f ${g}; exit 0; }`,
    `x='^\\$'; nft list table ip6 ${table} >/dev/null 2>&1 || x='^element ip6 '`,
    `err=$({ ${recorded("add")}; ${recorded("delete")}; } | nft -f - 2>&1) || { echo "ingress: cannot remove the elements from table ip ${table}: $err" >&2; exit 1; }`,
    `rm -f ${g}`,
    counter("ip"),
    counter("ip6"),
    `exit 0`,
  ].join("\n");
}

/**
 * Shell printing each of the prefix's ingress counters: "<container> <packets> <bytes>", a line per
 * family that has one (the ip table's, and the ip6 table's for a dual-stack container): the reader sums them.
 */
export const ingressCountersScript = (table: string) =>
  `for f in ip ip6; do nft list counters table $f ${table} 2>/dev/null; done | awk '/^\\tcounter ingress_/ { n = substr($2, 9) } n && /packets/ { print n, $2, $4; n = "" }'`;
