import { createHash } from "node:crypto";
import { shellQuote as q } from "../shell";
import { ingressObjects, ingressObjects6, ingressRules, ingressRules6, isV6 } from "./ingress";

/** One rule in the prefix's table, owned by a network or a container (its comment says which). */
export interface NftRule {
  chain: string;
  rule: string;
}

/**
 * The prefix's table: published ports live in the regular chain "ports", reached from prerouting
 * (traffic from outside) and output (from the host itself, 127.0.0.1 included) for local
 * destinations only. "guard" filters at prerouting after DNAT, before the routing decision (see
 * baseRules). Every statement is idempotent ("add" of an existing object is a no-op).
 * The table is named after the prefix, which the Host's schema keeps to [a-z0-9-] (nft takes
 * no quoted table names).
 */
export function skeleton(table: string): string {
  const t = `ip ${table}`;
  return [
    `add table ${t}`,
    `add set ${t} bridges { type ifname; }`,
    `add chain ${t} ports`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${t} guard { type filter hook prerouting priority filter; policy accept; }`,
    ...ingressObjects(t),
  ].join("\n");
}

/**
 * Every kslice interface is named "ks…" (the schema holds bridges to it, veths are "ks" + a hash),
 * so the nft wildcard "ks*" names the bridges of every prefix on the host, those made later
 * included, with no coordination between the prefixes' tables. A prefix's own `@bridges` set would
 * leave other prefixes' bridges out.
 */
export const ksliceIfaces = `"ks*"`;

const baseRules: NftRule[] = [
  { chain: "prerouting", rule: "fib daddr type local jump ports" },
  { chain: "output", rule: "fib daddr type local jump ports" },
  // CVE-2020-8558: a container must not reach the host's 127.0.0.0/8 services through its gateway
  // (routed locally on a bridge with route_localnet=1). kube-proxy's fix, at prerouting priority
  // filter: DNAT (priority dstnat) has run, routing not yet. Let through only a connection that
  // conntrack says was DNATed: the replies of a port published to 127.0.0.1, whose destination
  // the masquerade's undo has just set back to 127.0.0.1. A SYN to 127.0.0.1:<published port>
  // is DNATed to the container's address, so no longer matches. Identical in every prefix's table:
  // an accept in one table never overrides a drop in another.
  { chain: "guard", rule: `iifname ${ksliceIfaces} ip daddr 127.0.0.0/8 ct status dnat accept` },
  { chain: "guard", rule: `iifname ${ksliceIfaces} ip daddr 127.0.0.0/8 drop` },
  // declared ingress (ingress.ts)
  ...ingressRules,
];

/** Comments of an owner's rules: "<owner> <i>/<n> <hash>", so a flushed or altered set is seen. */
export function ruleComments(owner: string, rules: { chain: string; rule: string }[]): string[] {
  return rules.map((r, i) => `${owner} ${i}/${rules.length} ${createHash("sha256").update(`${r.chain} ${r.rule}`).digest("hex").slice(0, 8)}`);
}

/** Comments the table must hold for its base chains to reach "ports" and for the loopback guard. */
export const baseComments = ruleComments("k:base", baseRules);

/** The lock that serializes a prefix's nftables edits (list, then replace by handle). */
export const nftLock = (runDir: string) => `${runDir}/nft.lock`;

/** A family's table of a prefix: its objects (idempotent adds) and the base rules it always holds, tagged "k:base". */
export interface TableKind {
  family: "ip" | "ip6" | "bridge";
  skeleton: (table: string) => string;
  base: NftRule[];
}

/** The prefix's ip table: published ports, NAT, isolation, the loopback guard. */
export const ipTable: TableKind = { family: "ip", skeleton, base: baseRules };

/**
 * The prefix's ip6 table, for dual-stack networks: IPv6's published ports, NAT66, isolation and
 * declared ingress, as the ip table does them for IPv4. No loopback guard: the kernel never routes ::1 from an
 * interface (IPv6 has no route_localnet), so a port published to loopback stays IPv4.
 */
export function skeleton6(table: string): string {
  const t = `ip6 ${table}`;
  return [
    `add table ${t}`,
    `add chain ${t} ports`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    ...ingressObjects6(t),
  ].join("\n");
}

export const ip6Table: TableKind = {
  family: "ip6",
  skeleton: skeleton6,
  // declared ingress to IPv6 addresses (ingress.ts)
  base: [...baseRules.filter((r) => r.rule === "fib daddr type local jump ports"), ...ingressRules6],
};

/** Comments the ip6 table must hold for its base chains to reach "ports". */
export const baseComments6 = ruleComments("k:base", ip6Table.base);

/**
 * Shell that makes the table hold exactly `rules` for `owner` (none: removes them), and the base
 * jumps. nft has no "ensure" for rules: the owner's rules are listed with their handles and, unless
 * they are already the wanted ones, replaced in one transaction, under the prefix's lock.
 * `extra` nft statements (set elements) join the first, idempotent transaction.
 */
export function ensureRulesScript(table: string, runDir: string, owner: string, rules: NftRule[], extra: string[] = [], kind: TableKind = ipTable): string {
  const t = `${kind.family} ${table}`;
  // "<chain> <handle> <comment>" for every commented rule
  const list = `nft -a list table ${t} 2>/dev/null | awk '/^\tchain / {c=$2} /comment "/ { h=$NF; sub(/^.*comment "/, ""); sub(/" # handle.*$/, ""); print c, h, $0 }'`;
  const plan = (tag: string, wanted: { chain: string; rule: string }[]) => {
    const want = ruleComments(tag, wanted);
    return [
      `have=$(printf '%s\n' "$all" | awk -v o=${q(`${tag} `)} 'index($0, " " o) { sub(/^[^ ]+ [^ ]+ /, ""); print }' | sort)`,
      `want=$(printf '%s\n' ${want.length ? want.map(q).join(" ") : "''"} | sed '/^$/d' | sort)`,
      `if [ "$have" != "$want" ]; then`,
      `  printf '%s\n' "$all" | awk -v o=${q(`${tag} `)} 'index($0, " " o) { print "delete rule ${t} " $1 " handle " $2 }' >> "$tx"`,
      ...wanted.map((r, i) => `  echo ${q(`add rule ${t} ${r.chain} ${r.rule} comment "${want[i]}"`)} >> "$tx"`),
      `fi`,
    ];
  };
  return [
    // most calls (every networked start) find everything in place: one list and one awk, no lock
    ...(extra.length
      ? []
      : [`${holdsExactly(table, [...ruleComments("k:base", kind.base), ...ruleComments(owner, rules)], ["k:base", owner], kind.family)} && exit 0`]),
    `mkdir -p ${q(runDir)}; exec 8>${q(nftLock(runDir))}; flock -w 60 8 || { echo "timed out waiting for the nftables lock" >&2; exit 1; }`,
    `tx=$(mktemp); trap 'rm -f "$tx"' EXIT`,
    `nft -f - <<'KSLICE_NFT' || exit 1\n${[kind.skeleton(table), ...extra].join("\n")}\nKSLICE_NFT`,
    `all=$(${list})`,
    ...plan("k:base", kind.base),
    ...plan(owner, rules),
    `if [ -s "$tx" ]; then nft -f "$tx" || exit 1; fi`,
  ].join("\n");
}

/**
 * Shell whose status is 0 when the table's rules tagged with one of `tags` have exactly the comments
 * `want`, each once (a missing table: 1). Read only: the ensure that follows a 1 lists again under
 * the lock. Comments hold no "|" (tags and hex).
 */
export function holdsExactly(table: string, want: string[], tags: string[], family: TableKind["family"] = "ip"): string {
  const awk = [
    `BEGIN { n = split(w, a, "|"); for (i = 1; i <= n; i++) need[a[i]] = 1; split(t, tg, "|") }`,
    `/comment "/ { c = $0; sub(/^.*comment "/, "", c); sub(/".*$/, "", c)`,
    `  for (j in tg) if (index(c, tg[j] " ") == 1) { if (!(c in need) || seen[c]++) bad = 1 } }`,
    `END { for (c in need) if (!(c in seen)) bad = 1; exit bad }`,
  ].join("\n");
  return `nft list table ${family} ${table} 2>/dev/null | awk -v w=${q(want.join("|"))} -v t=${q(tags.join("|"))} ${q(awk)}`;
}

/** Removes an owner's rules (and `extra` statements such as a set element), leaving the rest. */
export function removeRulesScript(table: string, runDir: string, owner: string, extra: string[] = [], family: TableKind["family"] = "ip"): string {
  const t = `${family} ${table}`;
  return [
    `nft list table ${t} >/dev/null 2>&1 || exit 0`,
    `mkdir -p ${q(runDir)}; exec 8>${q(nftLock(runDir))}; flock -w 60 8 || { echo "timed out waiting for the nftables lock" >&2; exit 1; }`,
    `tx=$(mktemp); trap 'rm -f "$tx"' EXIT`,
    `nft -a list table ${t} | awk -v o=${q(`${owner} `)} -v dq='"' '/^\tchain / {c=$2} index($0, "comment " dq o) { print "delete rule ${t} " c " handle " $NF }' > "$tx"`,
    // a missing set element would fail the whole transaction: each goes on its own
    `[ -s "$tx" ] && { nft -f "$tx" || exit 1; }`,
    ...extra.map((x) => `nft ${q(x)} 2>/dev/null`),
    `exit 0`,
  ].join("\n");
}

/** A network's rules: loopback masquerade for published ports, optional NAT, isolation. */
export function networkRules(bridge: string, subnet: string, nat: boolean, isolated: boolean): NftRule[] {
  const br = JSON.stringify(bridge);
  return [
    // 127.0.0.1:port → container: the reply must come back to an address the container can reach
    { chain: "postrouting", rule: `oifname ${br} ip saddr 127.0.0.0/8 masquerade` },
    ...(nat ? [{ chain: "postrouting" as const, rule: `ip saddr ${subnet} oifname != ${br} masquerade` }] : []),
    // isolated from every kslice bridge on the host, whatever its prefix (see ksliceIfaces): one
    // isolated side is enough to drop, so two networks talk only when neither is isolated
    ...(isolated
      ? [
          { chain: "forward" as const, rule: `iifname ${br} oifname ${ksliceIfaces} oifname != ${br} drop` },
          { chain: "forward" as const, rule: `oifname ${br} iifname ${ksliceIfaces} iifname != ${br} drop` },
        ]
      : []),
  ];
}

/** A dual-stack network's IPv6 rules: NAT66 and isolation, as networkRules for IPv4. */
export function networkRules6(bridge: string, subnet6: string, nat: boolean, isolated: boolean): NftRule[] {
  return networkRules(bridge, subnet6, nat, isolated)
    .filter((r) => !r.rule.includes("127.0.0.0/8"))
    .map((r) => ({ ...r, rule: r.rule.replace(/^ip saddr /, "ip6 saddr ") }));
}

export interface PortRule {
  protocol: "tcp" | "udp";
  hostAddress: string;
  hostPort: number;
  address: string;
  /** The container's IPv6 address on that network, when dual-stack: the port answers on IPv6 too. */
  address6?: string;
  containerPort: number;
}

/**
 * IPv6 DNAT of the ports published on every address ("0.0.0.0") or on an IPv6 address of the
 * host, to a container with an IPv6 address there.
 */
export function portRules6(ports: PortRule[]): NftRule[] {
  return ports
    .filter((p) => (p.hostAddress === "0.0.0.0" || isV6(p.hostAddress)) && p.address6)
    .map((p) => ({
      chain: "ports",
      rule: `${p.hostAddress === "0.0.0.0" ? "" : `ip6 daddr ${p.hostAddress} `}${p.protocol} dport ${p.hostPort} dnat to [${p.address6}]:${p.containerPort}`,
    }));
}

/** IPv4 DNAT of the ports published on every address or on an IPv4 address (one on an IPv6 address is portRules6's alone). */
export function portRules(ports: PortRule[]): NftRule[] {
  return ports
    .filter((p) => !isV6(p.hostAddress))
    .map((p) => ({
      chain: "ports",
      rule: `${p.hostAddress === "0.0.0.0" ? "" : `ip daddr ${p.hostAddress} `}${p.protocol} dport ${p.hostPort} dnat to ${p.address}:${p.containerPort}`,
    }));
}

/** A port reachable on the host's loopback: published to 0.0.0.0 or to an address in 127.0.0.0/8. */
export const onLoopback = (hostAddress: string) => hostAddress === "0.0.0.0" || hostAddress.startsWith("127.");

/** A container's marker that the supervisor took its port rules away (its init died); net.sh removes it. */
export const unpublishedMarker = (bundle: string) => `${bundle}/unpublished`;

/**
 * Shell function `unpublish NAME`: removes the container's port rules (owner c:NAME) from the
 * prefix's table under its nftables lock, as a stop does. For the supervisor, which finds
 * containers whose init died behind kslice's back: with no DNAT left, a connection to their ports
 * is refused at once by the host (TCP reset, ICMP port unreachable) instead of being sent to an
 * address nobody answers until the client times out.
 */
export function unpublishFunction(table: string, runDir: string): string {
  const each = (t: string) => [
    `  tx=$(nft -a list chain ${t} ports 2>/dev/null | awk -v o="c:$1 " -v dq='"' 'index($0, "comment " dq o) { print "delete rule ${t} ports handle " $NF }')`,
    `  [ -z "$tx" ] || printf '%s\\n' "$tx" | nft -f -`,
  ];
  return [`unpublish() (`, `  exec 8>${q(nftLock(runDir))}; flock -w 10 8 || exit 1`, ...each(`ip ${table}`), ...each(`ip6 ${table}`), `)`].join("\n");
}
