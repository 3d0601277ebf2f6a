import { shellQuote as q } from "../shell";
import { parseIPv6 } from "../../../schema/ipv6";
import { linkLocalFor } from "./names";
import { ruleComments, type NftRule, type TableKind } from "./nft";

/**
 * Anti-spoofing. A guarded veth lets frames in only with the container's own MAC, IPv4 only from
 * its own address, ARP only naming that MAC and address; no DHCP server replies. IPv6 only on a
 * dual-stack network (the veth in @v6): from its own addresses (@addr6: its IPv6 address and the
 * link-local one its MAC gives, the only one it has, see attach.ts), neighbour advertisements only
 * for them (@na6), and never a router advertisement, redirect or DHCPv6 server reply. No other
 * ethertype (no VLAN tag).
 * Filtered in the bridge family at prerouting, before the bridge learns the source MAC, forwards
 * the frame or hands it to the host: a forged frame reaches neither a neighbour, nor the host, nor
 * the bridge's forwarding table. One table per prefix (family bridge, named after the prefix as
 * its ip table is); a veth is guarded by being an element of @guarded, with its MAC in @mac and
 * its address in @ip4. Every prefix's table sees every bridged frame of the host, so a veth that
 * is not in a table's @guarded (another prefix's, or an opted-out container's) passes it.
 * (meta ibrname would scope the chain to the prefix's bridges, but needs CONFIG_NFT_BRIDGE_META,
 * which some kernels, this build machine's included, lack.)
 */
export function guardSkeleton(table: string): string {
  const t = `bridge ${table}`;
  return [
    `add table ${t}`,
    `add set ${t} guarded { type ifname; }`,
    `add set ${t} mac { type ifname . ether_addr; }`,
    `add set ${t} ip4 { type ifname . ipv4_addr; }`,
    `add set ${t} v6 { type ifname; }`,
    `add set ${t} addr6 { type ifname . ipv6_addr; }`,
    // nft 1.0.6 has no "icmpv6 taddr": the target is the 16 bytes after the ICMPv6 header's first 8
    `add set ${t} na6 { typeof iifname . @th,64,128; }`,
    `add chain ${t} prerouting { type filter hook prerouting priority filter; policy accept; }`,
    `add chain ${t} guard`,
  ].join("\n");
}

/** Counted, so `nft list table bridge <prefix>` shows what each rule dropped. */
export const guardRules: NftRule[] = [
  { chain: "prerouting", rule: "iifname @guarded jump guard" },
  { chain: "guard", rule: "iifname . ether saddr != @mac counter drop" },
  { chain: "guard", rule: "ether type arp iifname . arp saddr ether != @mac counter drop" },
  { chain: "guard", rule: "ether type arp iifname . arp saddr ip != @ip4 counter drop" },
  { chain: "guard", rule: "ether type ip iifname . ip saddr != @ip4 counter drop" },
  // a DHCP server's replies (from its own address: the rule above lets them through)
  { chain: "guard", rule: "ether type ip udp sport 67 counter drop" },
  // an IPv4-only network's veth sends no IPv6 at all
  { chain: "guard", rule: "ether type ip6 iifname != @v6 counter drop" },
  { chain: "guard", rule: "ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } counter drop" },
  { chain: "guard", rule: "ether type ip6 udp sport 547 counter drop" },
  { chain: "guard", rule: "ether type ip6 iifname . ip6 saddr != @addr6 counter drop" },
  { chain: "guard", rule: "ether type ip6 icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @na6 counter drop" },
  { chain: "guard", rule: "ether type != { ip, arp, ip6 } counter drop" },
];

export const guardTable: TableKind = { family: "bridge", skeleton: guardSkeleton, base: guardRules };

/** Comments the prefix's bridge table holds when its rules are in place. */
export const guardComments = ruleComments("k:base", guardRules);

/** One guarded interface: the host end of a container's veth, the MAC and address it may send from. */
export interface Guarded {
  veth: string;
  mac: string;
  address: string;
  /** Its IPv6 address (canonical) on a dual-stack network. */
  address6?: string;
}

/** The IPv6 addresses a guarded veth may send from: its own and the link-local one of its MAC. */
const own6 = (g: Guarded) => (g.address6 ? [g.address6, linkLocalFor(g.mac)] : []);

/** An IPv6 address as the raw 128-bit integer @na6 holds, as nft prints it. */
const raw6 = (a: string) => `0x${parseIPv6(a)!.toString(16)}`;

/** The set elements that guard these veths, one statement a line (without add or delete). */
export function guardElements(table: string, guarded: Guarded[]): string[] {
  const t = `bridge ${table}`;
  return guarded.flatMap((g) => [
    `element ${t} guarded { "${g.veth}" }`,
    `element ${t} mac { "${g.veth}" . ${g.mac} }`,
    `element ${t} ip4 { "${g.veth}" . ${g.address} }`,
    ...(g.address6 ? [`element ${t} v6 { "${g.veth}" }`] : []),
    ...own6(g).flatMap((a) => [`element ${t} addr6 { "${g.veth}" . ${a} }`, `element ${t} na6 { "${g.veth}" . ${raw6(a)} }`]),
  ]);
}

/**
 * Shell that makes the table hold exactly `elements` for one container, whose last applied ones
 * are in the file `record`. One transaction: the recorded ones added (an add of a present element
 * does nothing, so the delete that follows cannot miss) and deleted, then the wanted ones added,
 * so a changed address never leaves the old one allowed, and nothing is unguarded in between. The
 * record first holds old and new together: a kill before the transaction's end leaves none behind.
 * Nothing wanted: the recorded ones removed (none recorded: no nft at all).
 */
export function guardApplyScript(table: string, record: string, elements: string[]): string {
  const g = q(record);
  const print = (prefix: string) => `printf '%s\\n' ${elements.map((e) => q(`${prefix}${e}`)).join(" ")}`;
  if (!elements.length) return guardRemoveScript(table, record);
  return [
    `{ cat ${g} 2>/dev/null; ${print("")}; } | sort -u > ${g}.new && mv -f ${g}.new ${g} || exit 1`,
    `err=$({ printf '%s\\n' ${q(guardSkeleton(table))}; sed 's/^/add /' ${g}; sed 's/^/delete /' ${g}; ${print("add ")}; } | nft -f - 2>&1) || { echo "anti-spoofing: cannot set the elements in table bridge ${table}: $err" >&2; exit 1; }`,
    `${print("")} > ${g}.new && mv -f ${g}.new ${g}`,
  ].join("\n");
}

/** Shell that removes the elements recorded in `record` (a container stopping or going) and the record. */
export function guardRemoveScript(table: string, record: string): string {
  const g = q(record);
  return [
    `[ -s ${g} ] || { rm -f ${g}; exit 0; }`,
    // the table went with the prefix's last network: nothing left to remove
    `nft list table bridge ${table} >/dev/null 2>&1 || { rm -f ${g}; exit 0; }`,
    `err=$({ sed 's/^/add /' ${g}; sed 's/^/delete /' ${g}; } | nft -f - 2>&1) || { echo "anti-spoofing: cannot remove the elements from table bridge ${table}: $err" >&2; exit 1; }`,
    `rm -f ${g}`,
  ].join("\n");
}

/**
 * Shell printing every element of the table's sets, "G <set> <element>" a line (for example
 * `G ip4 "ks0123" . 10.0.0.2`); nothing when there is no table.
 */
export const guardListing = (table: string) =>
  `nft list table bridge ${table} 2>/dev/null | awk '/^\\tset / { s = $2 } /^\\tchain / { s = "" } s { l = $0; while (match(l, /"[^"]+"( \\. [0-9a-fx:.]+)?/)) { print "G " s " " substr(l, RSTART, RLENGTH); l = substr(l, RSTART + RLENGTH) } }'`;

/** The listing's lines that name one veth. */
export const guardLinesOf = (lines: string[], veth: string) => lines.filter((l) => l.startsWith("G ") && l.split(" ")[2] === `"${veth}"`);

/** The listing's lines a guarded veth must have, sorted (an unguarded one has none). */
export const wantedGuardLines = (g: Guarded) =>
  [
    `G guarded "${g.veth}"`,
    `G ip4 "${g.veth}" . ${g.address}`,
    `G mac "${g.veth}" . ${g.mac}`,
    ...(g.address6 ? [`G v6 "${g.veth}"`] : []),
    ...own6(g).flatMap((a) => [`G addr6 "${g.veth}" . ${a}`, `G na6 "${g.veth}" . ${raw6(a)}`]),
  ].sort();
