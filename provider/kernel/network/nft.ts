import { createHash } from "node:crypto";
import { shellQuote as q } from "../../transport/transport";

/** One rule in the prefix's table, owned by a network or a container (its comment says which). */
export interface NftRule {
  chain: "ports" | "postrouting" | "forward";
  rule: string;
}

/**
 * The prefix's table: published ports live in the regular chain "ports", reached from prerouting
 * (traffic from outside) and output (from the host itself, 127.0.0.1 included) for local
 * destinations only. Every statement is idempotent ("add" of an existing object is a no-op).
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
  ].join("\n");
}

const baseJumps: { chain: string; rule: string }[] = [
  { chain: "prerouting", rule: "fib daddr type local jump ports" },
  { chain: "output", rule: "fib daddr type local jump ports" },
];

/** Comments of an owner's rules: "<owner> <i>/<n> <hash>", so a flushed or altered set is seen. */
export function ruleComments(owner: string, rules: { chain: string; rule: string }[]): string[] {
  return rules.map((r, i) => `${owner} ${i}/${rules.length} ${createHash("sha256").update(`${r.chain} ${r.rule}`).digest("hex").slice(0, 8)}`);
}

/** Comments the table must hold for its base chains to reach "ports". */
export const baseComments = ruleComments("k:base", baseJumps);

/** The lock that serializes a prefix's nftables edits (list, then replace by handle). */
export const nftLock = (runDir: string) => `${runDir}/nft.lock`;

/**
 * Shell that makes the table hold exactly `rules` for `owner` (none: removes them), and the base
 * jumps. nft has no "ensure" for rules: the owner's rules are listed with their handles and, unless
 * they are already the wanted ones, replaced in one transaction, under the prefix's lock.
 * `extra` nft statements (set elements) join the first, idempotent transaction.
 */
export function ensureRulesScript(table: string, runDir: string, owner: string, rules: NftRule[], extra: string[] = []): string {
  const t = `ip ${table}`;
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
    `mkdir -p ${q(runDir)}; exec 8>${q(nftLock(runDir))}; flock -w 60 8 || { echo "timed out waiting for the nftables lock" >&2; exit 1; }`,
    `tx=$(mktemp); trap 'rm -f "$tx"' EXIT`,
    `nft -f - <<'KSLICE_NFT' || exit 1\n${[skeleton(table), ...extra].join("\n")}\nKSLICE_NFT`,
    `all=$(${list})`,
    ...plan("k:base", baseJumps),
    ...plan(owner, rules),
    `if [ -s "$tx" ]; then nft -f "$tx" || exit 1; fi`,
  ].join("\n");
}

/** Removes an owner's rules (and `extra` statements such as a set element), leaving the rest. */
export function removeRulesScript(table: string, runDir: string, owner: string, extra: string[] = []): string {
  const t = `ip ${table}`;
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
    ...(isolated
      ? [
          { chain: "forward" as const, rule: `iifname ${br} oifname @bridges oifname != ${br} drop` },
          { chain: "forward" as const, rule: `oifname ${br} iifname @bridges iifname != ${br} drop` },
        ]
      : []),
  ];
}

export interface PortRule {
  protocol: "tcp" | "udp";
  hostAddress: string;
  hostPort: number;
  address: string;
  containerPort: number;
}

export function portRules(ports: PortRule[]): NftRule[] {
  return ports.map((p) => ({
    chain: "ports",
    rule: `${p.hostAddress === "0.0.0.0" ? "" : `ip daddr ${p.hostAddress} `}${p.protocol} dport ${p.hostPort} dnat to ${p.address}:${p.containerPort}`,
  }));
}
