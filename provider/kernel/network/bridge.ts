import { shellQuote as q } from "../shell";
import { hostLayout, type HostLayout } from "../container/layout";
import { bridgeAlias, networkOwner, nftTable } from "./names";
import { applyLocalnet, localnetDir, localnetWanted } from "./localnet";
import { ensureRulesScript, ip6Table, networkRules, networkRules6, nftLock, removeRulesScript } from "./nft";
import { syncScript } from "../durable";
import { guardTable } from "./guard";
import type { IngressRules } from "../../../schema/ingress";

/** A network as the host keeps it (networks/<name>/network.json) and as the kernel should show it. */
export interface NetworkSpec {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  bits: number;
  nat: boolean;
  isolated: boolean;
  /** IPv6 prefix, gateway and prefix length of a dual-stack network (canonical notation); absent: IPv4 only. */
  subnet6?: string;
  gateway6?: string;
  bits6?: number;
  /** Where allocated addresses come from. @default the subnet */
  dynamicRange?: string;
  /** Where allocated IPv6 addresses come from (canonical notation). @default the subnet6 */
  dynamicRange6?: string;
  /** URN of the resource that made it (absent: made before owners were recorded). */
  owner?: string;
  /** The ingress rules of its containers that declare none (schema/ingress.ts). */
  ingress?: IngressRules;
}

const forwardWas = (layout: HostLayout) => `${layout.networks}/.ip_forward-was`;
const forward6Was = (layout: HostLayout) => `${layout.networks}/.ip6_forward-was`;
const forward6 = "/proc/sys/net/ipv6/conf/all/forwarding";

/**
 * Makes the bridge, its address, its rules and its host record what `n` declares; idempotent, so
 * the same script creates and repairs. A bridge of that name that is not this network's is refused.
 */
export function ensureNetworkScript(prefix: string, layout: HostLayout, n: NetworkSpec): string {
  const br = q(n.bridge);
  const alias = bridgeAlias(prefix, n.name);
  const dir = layout.network(n.name);
  const table = nftTable(prefix);
  const body = [
    "set -e",
    `if ip link show dev ${br} >/dev/null 2>&1; then`,
    `  a=$(cat /sys/class/net/${n.bridge}/ifalias 2>/dev/null || true)`,
    `  [ "$a" = ${q(alias)} ] || { echo "interface ${n.bridge} already exists on the host and is not kslice's network ${n.name} (its alias is \\"$a\\")" >&2; exit 3; }`,
    `else`,
    `  ip link add name ${br} type bridge`,
    `  ip link set dev ${br} alias ${q(alias)}`,
    `fi`,
    `mkdir -p ${q(`${dir}/addresses`)}`,
    // renamed into place: a reader (a container's check) never sees it half-written
    `printf '%s\\n' ${q(JSON.stringify(n))} > ${q(`${dir}/network.json.new`)} && mv -f ${q(`${dir}/network.json.new`)} ${q(`${dir}/network.json`)}`,
    `[ "$(ip -o -4 addr show dev ${br} | awk '{print $4}')" = ${q(`${n.gateway}/${n.bits}`)} ] || { ip -4 addr flush dev ${br}; ip addr add ${q(`${n.gateway}/${n.bits}`)} dev ${br}; }`,
    `ip link set dev ${br} up`,
    // declared ingress filters at the forward hook (ingress.ts): traffic between two ports of this
    // bridge gets there only through br_netfilter, turned on for this bridge alone. Loaded here,
    // the module's host-wide switches (on by default) go off, so other bridges stay as they were.
    `if [ ! -d /proc/sys/net/bridge ] && modprobe br_netfilter 2>/dev/null; then for f in /proc/sys/net/bridge/bridge-nf-call-*; do echo 0 > "$f"; done; fi`,
    `[ ! -e /sys/class/net/${n.bridge}/bridge/nf_call_iptables ] || ip link set dev ${br} type bridge nf_call_iptables 1`,
    // only while a container publishes a port on the host's loopback through it (see localnet.ts)
    applyLocalnet(layout, n.bridge),
    // forwarding: NAT needs it, and so do published ports reached from other machines (DNAT, then
    // forward); the old value is kept and put back when the prefix's last network goes
    `if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then [ -f ${q(forwardWas(layout))} ] || cat /proc/sys/net/ipv4/ip_forward > ${q(forwardWas(layout))}; echo 1 > /proc/sys/net/ipv4/ip_forward; fi`,
    // a dual-stack network: the IPv6 gateway (no duplicate detection: the address is the host's to
    // give, and a tentative one would not answer for a second), and IPv6 forwarding, kept like IPv4's
    ...(n.subnet6
      ? [
          `[ "$(ip -o -6 addr show dev ${br} scope global | awk '{print $4}')" = ${q(`${n.gateway6}/${n.bits6}`)} ] || { ip -6 addr flush dev ${br} scope global; ip addr add ${q(`${n.gateway6}/${n.bits6}`)} dev ${br} nodad; }`,
          `if [ "$(cat ${forward6})" != 1 ]; then [ -f ${q(forward6Was(layout))} ] || cat ${forward6} > ${q(forward6Was(layout))}; echo 1 > ${forward6}; fi`,
          // declared ingress to IPv6 addresses (ip6 table): bridged IPv6 through the ip6 hooks too
          `[ ! -e /sys/class/net/${n.bridge}/bridge/nf_call_ip6tables ] || ip link set dev ${br} type bridge nf_call_ip6tables 1`,
        ]
      : []),
    "set +e",
    ...(n.subnet6
      ? [
          `(\n${ensureRulesScript(table, layout.runDir, networkOwner(n.name), networkRules6(n.bridge, n.subnet6, n.nat, n.isolated), [], ip6Table)}\n) || exit 1`,
        ]
      : []),
    `(\n${ensureRulesScript(table, layout.runDir, networkOwner(n.name), networkRules(n.bridge, n.subnet, n.nat, n.isolated), [
      `add element ip ${table} bridges { ${JSON.stringify(n.bridge)} }`,
    ])}\n) || exit 1`,
    // the prefix's anti-spoofing table and rules (guard.ts); its containers add their elements
    `(\n${ensureRulesScript(table, layout.runDir, networkOwner(n.name), [], [], guardTable)}\n) || exit 1`,
  ].join("\n");
  // kept beside the record as ensure.sh: a boot (boot.sh) runs it again to bring the network back
  const keep = q(`${dir}/ensure.sh`);
  // the record, ensure.sh and the claims' directory on disk before the create or update reports success (durable.ts)
  const synced = syncScript([`${dir}/network.json`, `${dir}/ensure.sh`, `${dir}/addresses`, forwardWas(layout), ...(n.subnet6 ? [forward6Was(layout)] : [])]);
  return `${body}\n[ $? = 0 ] || exit 1\nt=$(mktemp ${keep}.XXXXXX) || exit 1\ncat > "$t" <<'KSLICE_ENSURE'\n${body}\nKSLICE_ENSURE\nmv -f "$t" ${keep} || exit 1\n${synced}`;
}

/** What the kernel shows of a network, for observeNetwork to compare. */
export function probeNetworkScript(layout: HostLayout, n: { name: string; bridge: string; subnet6?: string }, table: string): string {
  const br = q(n.bridge);
  return [
    `echo "alias $(cat /sys/class/net/${n.bridge}/ifalias 2>/dev/null)"`,
    `echo "bridge $([ -d /sys/class/net/${n.bridge}/bridge ] && echo yes)"`,
    `echo "flags $(ip -o link show dev ${br} 2>/dev/null | grep -o '<[^>]*>')"`,
    `echo "addr $(ip -o -4 addr show dev ${br} 2>/dev/null | awk '{print $4}' | tr '\\n' ' ')"`,
    `echo "localnet $(cat /proc/sys/net/ipv4/conf/${n.bridge}/route_localnet 2>/dev/null)"`,
    `echo "localnet-wanted ${localnetWanted(layout, n.bridge)}"`,
    `echo "forward $(cat /proc/sys/net/ipv4/ip_forward)"`,
    // a dual-stack network's IPv6 side
    ...(n.subnet6
      ? [
          `echo "addr6 $(ip -o -6 addr show dev ${br} scope global 2>/dev/null | awk '{print $4}' | tr '\\n' ' ')"`,
          `echo "forward6 $(cat ${forward6} 2>/dev/null)"`,
          `echo "brnf6 $(cat /sys/class/net/${n.bridge}/bridge/nf_call_ip6tables 2>/dev/null)"`,
          `nft list table ip6 ${table} 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "/nft6 /; s/"$//'`,
        ]
      : []),
    `echo "brnf $(cat /sys/class/net/${n.bridge}/bridge/nf_call_iptables 2>/dev/null)"`,
    `echo "record $([ -f ${q(`${layout.network(n.name)}/network.json`)} ] && echo yes)"`,
    `echo "member $(nft list set ip ${table} bridges 2>/dev/null | grep -cF ${q(`"${n.bridge}"`)})"`,
    `nft list table ip ${table} 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "/nft /; s/"$//'`,
    `nft list table bridge ${table} 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "/guard /; s/"$//'`,
  ].join("\n");
}

export interface NetworkProbe {
  alias: string;
  isBridge: boolean;
  up: boolean;
  addresses: string[];
  /** Global IPv6 addresses of the bridge ("fd36::1/64"). */
  addresses6: string[];
  ipForward6: boolean;
  /** Comments of the rules in the prefix's ip6 table. */
  comments6: Set<string>;
  routeLocalnet: boolean;
  /** whether a container publishes a loopback port through the bridge (so route_localnet must be 1) */
  localnetWanted: boolean;
  ipForward: boolean;
  /** br_netfilter off on the bridge (declared ingress would not see traffic between its ports); false where the kernel has none. */
  brNetfilterOff: boolean;
  /** The same for IPv6 (nf_call_ip6tables), on a dual-stack network. */
  brNetfilter6Off: boolean;
  recorded: boolean;
  inSet: boolean;
  comments: Set<string>;
  /** Comments of the rules in the prefix's anti-spoofing table (guard.ts). */
  guardComments: Set<string>;
}

export function parseNetworkProbe(out: string): NetworkProbe {
  const lines = out.split("\n");
  const val = (k: string) => (lines.find((l) => l.startsWith(`${k} `)) ?? "").slice(k.length + 1).trim();
  return {
    alias: val("alias"),
    isBridge: val("bridge") === "yes",
    up: /[<,]UP[,>]/.test(val("flags")),
    addresses: val("addr").split(" ").filter(Boolean),
    addresses6: val("addr6").split(" ").filter(Boolean),
    ipForward6: val("forward6") === "1",
    comments6: new Set(lines.filter((l) => l.startsWith("nft6 ")).map((l) => l.slice(5))),
    routeLocalnet: val("localnet") === "1",
    localnetWanted: val("localnet-wanted") === "1",
    ipForward: val("forward") === "1",
    brNetfilterOff: val("brnf") === "0",
    brNetfilter6Off: val("brnf6") === "0",
    recorded: val("record") === "yes",
    inSet: Number(val("member")) > 0,
    comments: new Set(lines.filter((l) => l.startsWith("nft ")).map((l) => l.slice(4))),
    guardComments: new Set(lines.filter((l) => l.startsWith("guard ")).map((l) => l.slice(6))),
  };
}

/**
 * Removes the bridge, the network's rules and its record. With the prefix's last network go its
 * nftables table (under the lock) and ip_forward's change.
 */
export function removeNetworkScript(prefix: string, layout: HostLayout, n: { name: string; bridge: string }): string {
  const table = nftTable(prefix);
  return [
    `(\n${removeRulesScript(table, layout.runDir, networkOwner(n.name), [`delete element ip ${table} bridges { ${JSON.stringify(n.bridge)} }`])}\n) || exit 1`,
    `(\n${removeRulesScript(table, layout.runDir, networkOwner(n.name), [], "ip6")}\n) || exit 1`,
    `if [ "$(cat /sys/class/net/${n.bridge}/ifalias 2>/dev/null)" = ${q(bridgeAlias(prefix, n.name))} ]; then ip link del dev ${q(n.bridge)} || exit 1; fi`,
    `rm -rf ${q(layout.network(n.name))} ${q(`${localnetDir(layout)}/${n.bridge}`)}`,
    // the record's removal on disk (durable.ts): a boot after a power loss does not bring the network back
    `(\n${syncScript([layout.network(n.name)])}\n) || exit 1`,
    `[ -n "$(ls ${q(layout.networks)} 2>/dev/null)" ] && exit 0`,
    ...giveBack(prefix, layout, forwardWas, "/proc/sys/net/ipv4/ip_forward"),
    // IPv6's only to a prefix with a dual-stack bridge: another knows nothing of it (an older kslice's)
    ...giveBack(prefix, layout, forward6Was, forward6, `d=\${b%/bridge}; [ -n "$(ip -o -6 addr show dev "\${d##*/}" scope global 2>/dev/null)" ] || continue`),
    `rmdir ${q(layout.networks)} 2>/dev/null`,
    `exec 8>${q(nftLock(layout.runDir))}; flock -w 60 8 && { nft delete table ip ${table} 2>/dev/null; nft delete table bridge ${table} 2>/dev/null; nft delete table ip6 ${table} 2>/dev/null; true; }`,
  ].join("\n");
}

/**
 * Shell lines that put a forwarding switch back as it was when the prefix's last network goes:
 * another prefix's bridges still need it, so its last network puts the old value back (the record
 * is handed over), else one prefix's leaving would cut every other team's NAT.
 */
function giveBack(prefix: string, layout: HostLayout, wasOf: (l: HostLayout) => string, proc: string, only = ""): string[] {
  const was = q(wasOf(layout));
  return [
    `if [ -f ${was} ]; then`,
    `  keep=; for b in /sys/class/net/ks*/bridge; do`,
    `    a=$(cat "\${b%/bridge}/ifalias" 2>/dev/null); case $a in */network/*) ;; *) continue ;; esac; p=\${a%%/network/*}`,
    `    [ "$p" != ${q(prefix)} ] && [ -d "${hostLayout("$p").networks}" ] || continue`,
    ...(only ? [`    ${only}`] : []),
    `    [ -f "${wasOf(hostLayout("$p"))}" ] || mv ${was} "${wasOf(hostLayout("$p"))}"; keep=1; break`,
    `  done`,
    `  [ -n "$keep" ] || cat ${was} > ${proc}; rm -f ${was}`,
    `fi`,
  ];
}
