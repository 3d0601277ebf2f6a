import { parseRate } from "../../../schema/units";
import { shellQuote as q } from "../shell";
import type { HostLayout } from "../container/layout";
import type { BundleFile } from "../container/files";
import type { Transport } from "../../transport/transport";
import { containerOwner, linkLocalFor, nftTable, vethAliasPrefix } from "./names";
import { localnetScript } from "./localnet";
import { guardApplyScript, guardElements, guardLinesOf, guardListing, guardRemoveScript, wantedGuardLines } from "./guard";
import {
  ensureRulesScript,
  ip6Table,
  onLoopback,
  portRules,
  portRules6,
  removeRulesScript,
  ruleComments,
  skeleton,
  skeleton6,
  unpublishedMarker,
  type PortRule,
} from "./nft";
import { ingressApplyScript, ingressElements, ingressHolds, ingressProbe, ingressRemoveScript } from "./ingress";
import type { Allowed } from "../../../schema/ingress";

/** A container's place on one network, resolved: names, addresses and rates. */
export interface Attachment {
  index: number;
  network: string;
  bridge: string;
  address: string;
  bits: number;
  gateway: string;
  /** Host end of the veth; the container's end is eth<index>. */
  veth: string;
  alias: string;
  mac: string;
  /** bits per second into / out of the container */
  ingress?: number;
  egress?: number;
  /** On a dual-stack network: the IPv6 address (canonical), its prefix length and the IPv6 gateway. */
  address6?: string;
  bits6?: number;
  gateway6?: string;
  /** Anti-spoofing on this interface (guard.ts); false for a router or VPN gateway. */
  guard: boolean;
  /** Declared ingress to this address (ingress.ts): the flows let in; undefined: no filtering. */
  allow?: Allowed[];
}

/** The container's anti-spoofing elements last applied (guard.ts), in its bundle. */
export const guardRecord = (layout: HostLayout, container: string) => `${layout.bundle(container)}/guard.nft`;
/** The container's ingress elements last applied (ingress.ts), in its bundle. */
export const ingressRecord = (layout: HostLayout, container: string) => `${layout.bundle(container)}/ingress.nft`;

/**
 * The addresses declared ingress filters, each with its flows: the IPv4 address, and on a
 * dual-stack network the IPv6 one and the link-local one of its MAC (a neighbour on the bridge
 * reaches the container at either; ingress.ts).
 */
const filtered = (atts: Attachment[]) => atts.filter((a) => a.allow).flatMap((a) => filteredAddresses(a).map((address) => ({ address, allow: a.allow! })));
const filteredAddresses = (a: Attachment) => [a.address, ...(a.address6 ? [a.address6, linkLocalFor(a.mac)] : [])];

/** Bridges that carry a port this container publishes on the host's loopback (route_localnet). */
export function loopbackBridges(atts: Attachment[], ports: PortRule[]): string[] {
  const bridges = ports.filter((p) => onLoopback(p.hostAddress)).map((p) => atts.find((a) => a.address === p.address)?.bridge);
  return [...new Set(bridges.filter((b): b is string => b !== undefined))].sort();
}

/** tbf needs a bucket of at least one packet; 20 ms of traffic, or 16 kB for slow rates. */
const tbf = (bits: number) => `tbf rate ${bits}bit burst ${Math.max(Math.ceil(bits / 8 / 50), 16000)} latency 50ms`;

const peerOf = (i: number) => `$(inns ip -o link show dev eth${i} 2>/dev/null | sed -n 's/^[0-9]*: [^@]*@if\\([0-9]*\\):.*/\\1/p')`;

/**
 * net.sh: puts a running container on its networks, given its init's pid. Run by start.sh between
 * the runtime's create and start (so the init never sees a half-made network) and again to repair
 * or to apply a change live. Idempotent: what is right is left alone (no flap on repair).
 */
export function netScript(prefix: string, layout: HostLayout, container: string, atts: Attachment[], ports: PortRule[]): string {
  const mine = vethAliasPrefix(prefix, container).replace(/[.]/g, "\\.");
  const keep = atts.map((a) => a.veth).join(" ");
  return [
    "#!/bin/sh",
    `# written by kslice: joins container ${container} to its networks; $1 is its init's pid`,
    `pid=\${1:?usage: net.sh PID [new]}; ns=/proc/$pid/ns/net`,
    `[ -e "$ns" ] || { echo "process $pid is gone" >&2; exit 1; }`,
    // a stale pid (the init restarted, the number reused) must never lead into the host's namespace
    // the shell's own read and test (-ef: the same namespace inode), no process for either
    `init=; { read -r init < ${q(`${layout.bundle(container)}/init.pid`)}; } 2>/dev/null; [ "$init" = "$pid" ] || { echo "process $pid is not the init of container ${container}" >&2; exit 1; }`,
    `! [ "$ns" -ef /proc/$$/ns/net ] || { echo "process $pid is in the host's network namespace" >&2; exit 1; }`,
    `inns() { nsenter --net="$ns" "$@"; }`,
    // veths of this container that are not declared any more; "new" (start.sh: an init the runtime
    // has just made) has none, and a start of hundreds would read every veth's alias each time
    `[ "$2" = new ] || for f in $(grep -l ${q(`^${mine}`)} /sys/class/net/ks*/ifalias 2>/dev/null); do`,
    `  v=\${f%/ifalias}; v=\${v##*/}`,
    `  case " ${keep} " in *" $v "*) ;; *) ip link del dev "$v" 2>/dev/null ;; esac`,
    `done`,
    ...atts.flatMap((a) => {
      const e = `eth${a.index}`;
      const fail = (what: string) => `{ echo ${q(`networks.${a.index}: ${what}`)}": $err" >&2; exit 1; }`;
      return [
        `i=; read -r i < /sys/class/net/${a.veth}/ifindex 2>/dev/null; p=; [ -z "$i" ] || p=${peerOf(a.index)}`,
        `if [ -n "$i" ] && [ "$p" = "$i" ]; then`,
        // the pair is there: repair what differs, in place
        `  ip link set dev ${a.veth} alias ${q(a.alias)} master ${q(a.bridge)} up || { echo "networks.${a.index}: cannot attach ${a.veth} to bridge ${a.bridge} of network ${a.network}" >&2; exit 1; }`,
        `  inns ip link set dev ${e} address ${a.mac} up || exit 1`,
        `  [ "$(inns ip -o -4 addr show dev ${e} | awk '{print $4}')" = ${q(`${a.address}/${a.bits}`)} ] || { inns ip -4 addr flush dev ${e} && inns ip addr add ${q(`${a.address}/${a.bits}`)} dev ${e}; } || exit 1`,
        ...(a.index === 0 ? [`  inns ip route replace default via ${a.gateway} dev ${e} || exit 1`] : []),
        ...(a.address6
          ? [
              `  [ "$(inns ip -o -6 addr show dev ${e} scope global | awk '{print $4}')" = ${q(`${a.address6}/${a.bits6}`)} ] || { inns ip -6 addr flush dev ${e} scope global && inns ip addr add ${q(`${a.address6}/${a.bits6}`)} dev ${e} nodad; } || exit 1`,
              `  inns ip -6 addr replace ${linkLocalFor(a.mac)}/64 dev ${e} nodad || exit 1`,
              ...(a.index === 0 ? [`  inns ip -6 route replace default via ${a.gateway6} dev ${e} || exit 1`] : []),
            ]
          : []),
        a.ingress ? `  tc qdisc replace dev ${a.veth} root ${tbf(a.ingress)} || exit 1` : `  tc qdisc del dev ${a.veth} root 2>/dev/null`,
        a.egress ? `  inns tc qdisc replace dev ${e} root ${tbf(a.egress)} || exit 1` : `  inns tc qdisc del dev ${e} root 2>/dev/null`,
        `else`,
        // a new pair (every start): one ip for the host's side, one in the namespace; nothing to undo
        // in a new veth, so no qdisc to delete. ip link add ignores an alias (IFLA_IFALIAS), so it is
        // set on its own line. A veth of an exited init can take a moment to go: retry for up to 2 s.
        `  [ -e /sys/class/net/${a.bridge} ] || { echo "networks.${a.index}: bridge ${a.bridge} of network ${a.network} is missing" >&2; exit 1; }`,
        `  [ -z "$i" ] || ip link del dev ${a.veth} 2>/dev/null`,
        // Neither end generates an IPv6 link-local address, so no DAD, MLD or router solicitation
        // is flooded to every port of the bridge at each start (each container's namespace took
        // them: O(N) per start). Left out where the kernel has no IPv6. A dual-stack network's
        // container gets its IPv6 address and the link-local one of its MAC, set, without DAD
        // (kslice claimed the one, the MAC is pinned): the kernel sends NDP probes only from a
        // link-local source, and these two are all the guard lets it send from (guard.ts).
        `  g6h=; g6n=; [ ! -d /proc/sys/net/ipv6 ] || { g6h="link set dev ${a.veth} addrgenmode none"; g6n="link set dev ${e} addrgenmode none"; }`,
        `  n=0; until err=$(ip -batch - 2>&1 <<KSLICE_IP`,
        `link add name ${a.veth} master ${a.bridge} type veth peer name ${e} address ${a.mac} netns $pid`,
        `$g6h`,
        `link set dev ${a.veth} alias ${a.alias} up`,
        `KSLICE_IP`,
        `  ); do`,
        `    inns ip link del dev ${e} 2>/dev/null; ip link del dev ${a.veth} 2>/dev/null`,
        `    n=$((n + 1)); [ $n -lt 20 ] || ${fail(`cannot create veth ${a.veth} on bridge ${a.bridge} of network ${a.network}`)}; sleep 0.1`,
        `  done`,
        `  err=$(inns ip -batch - 2>&1 <<KSLICE_IP`,
        `$g6n`,
        `link set dev ${e} up`,
        `addr add ${a.address}/${a.bits} dev ${e}`,
        ...(a.index === 0 ? [`route replace default via ${a.gateway} dev ${e}`] : []),
        ...(a.address6 ? [`addr add ${a.address6}/${a.bits6} dev ${e} nodad`, `addr add ${linkLocalFor(a.mac)}/64 dev ${e} nodad`] : []),
        ...(a.address6 && a.index === 0 ? [`route replace default via ${a.gateway6} dev ${e}`] : []),
        `KSLICE_IP`,
        `  ) || ${fail(`cannot give ${e} its address ${a.address}/${a.bits}${a.address6 ? ` and ${a.address6}/${a.bits6}` : ""}`)}`,
        ...(a.ingress ? [`  tc qdisc replace dev ${a.veth} root ${tbf(a.ingress)} || exit 1`] : []),
        ...(a.egress ? [`  inns tc qdisc replace dev ${e} root ${tbf(a.egress)} || exit 1`] : []),
        `fi`,
      ];
    }),
    `(\n${ensureRulesScript(nftTable(prefix), layout.runDir, containerOwner(container), portRules(ports))}\n) || exit 1`,
    // a dual-stack network's published ports answer on IPv6 too (the ip6 table, nft.ts)
    ...(atts.some((a) => a.address6)
      ? [`(\n${ensureRulesScript(nftTable(prefix), layout.runDir, containerOwner(container), portRules6(ports), [], ip6Table)}\n) || exit 1`]
      : []),
    `(\n${guardApplyScript(
      nftTable(prefix),
      guardRecord(layout, container),
      guardElements(
        nftTable(prefix),
        atts.filter((a) => a.guard),
      ),
    )}\n) || exit 1`,
    `(\n${ingressApplyScript(nftTable(prefix), skeleton(nftTable(prefix)), ingressRecord(layout, container), container, ingressElements(nftTable(prefix), container, filtered(atts)), skeleton6(nftTable(prefix)))}\n) || exit 1`,
    // the supervisor's mark that it took the rules away when the init died: they are back
    `rm -f ${q(unpublishedMarker(layout.bundle(container)))}`,
    `(\n${localnetScript(layout, container, loopbackBridges(atts, ports))}\n) || exit 1`,
    `exit 0`,
  ].join("\n");
}

/** Removes what a container has on the host's side: its veths (if its netns lingers) and port rules. */
export function detachScript(prefix: string, layout: HostLayout, container: string, keepRules = false): string {
  const mine = vethAliasPrefix(prefix, container).replace(/[.]/g, "\\.");
  return [
    `for f in $(grep -l ${q(`^${mine}`)} /sys/class/net/ks*/ifalias 2>/dev/null); do v=\${f%/ifalias}; ip link del dev "\${v##*/}" 2>/dev/null; done`,
    ...(keepRules
      ? []
      : [
          `(\n${removeRulesScript(nftTable(prefix), layout.runDir, containerOwner(container))}\n) || exit 1`,
          `(\n${removeRulesScript(nftTable(prefix), layout.runDir, containerOwner(container), [], "ip6")}\n) || exit 1`,
          `(\n${localnetScript(layout, container, [])}\n) || exit 1`,
          `(\n${guardRemoveScript(nftTable(prefix), guardRecord(layout, container))}\n) || exit 1`,
          `(\n${ingressRemoveScript(nftTable(prefix), ingressRecord(layout, container), container)}\n) || exit 1`,
        ]),
    "exit 0",
  ].join("\n");
}

/**
 * A container's net.sh in its bundle: netScript for its attachments and ports, or, when it has
 * neither (`net` undefined), detachScript, which removes what it had.
 */
export function netShFile(prefix: string, layout: HostLayout, container: string, net: { atts: Attachment[]; ports: PortRule[] } | undefined): BundleFile {
  return {
    path: `${layout.bundle(container)}/net.sh`,
    content: net ? netScript(prefix, layout, container, net.atts, net.ports) : detachScript(prefix, layout, container),
  };
}

/**
 * `ip` arguments and batch (one command a line) that list a namespace's links, addresses and default
 * routes. A batch line takes no family option: the IPv6 default route is the route to 100:: (the
 * discard-only prefix, which nothing else routes).
 */
export const nsListingArgs = "-o -force -batch -";
export const nsListingBatch = ["link show", "addr show", "route show default", "route get 100::"];

/**
 * What a probe of one container lists inside its network namespace: links, addresses and default
 * routes in one `ip -batch` (no family: IPv6 too), then "@@q" and the qdiscs; probeLabels labels the lines. A probe of
 * every container (probe-all.ts) runs the same `ip` without a shell, and tc only where needed.
 */
export const inNamespaceListing = `{ printf '%s\\n' ${nsListingBatch.map((c) => q(c)).join(" ")} | ip ${nsListingArgs}; echo @@q; tc qdisc show; }`;

/**
 * Labels inNamespaceListing's lines as parseNetProbe reads them: "L " links, "A " addresses,
 * "route " the first default route (empty when none), "Q " qdiscs. A line starting "@@" (another
 * namespace's part) passes through and starts afresh; a namespace not entered prints nothing.
 * "A6 " global IPv6 addresses, "route6 " the IPv6 route to 100:: (a link-local address is dropped).
 */
export const probeLabels =
  `awk '/^@@/ && $0 != "@@q" { print; r = q = 0; next } $0 == "@@q" { if (!r) print "route "; r = q = 1; next } q { print "Q " $0; next } ` +
  `/^default/ { if (!r) print "route " $0; r = 1; next } /^100:: / { print "route6 " $0; next } /^[0-9]+: [^ ]+ +inet / { print "A " $0; next } ` +
  `/^[0-9]+: [^ ]+ +inet6 .* scope global/ { print "A6 " $0; next } / inet6 / { next } { print "L " $0 }'`;

/**
 * Prints what the kernel shows of a running container's networks; parseNetProbe reads it. Few
 * processes per container (a diff of hundreds of containers runs one each): sysfs is read with
 * the shell's own `read`, and the container's namespace is entered once for all its interfaces.
 */
export function probeNetScript(prefix: string, pid: number, atts: Attachment[], withRules = true, ports: PortRule[] = []): string {
  return [
    ...loopbackBridges(atts, ports).map((b) => `l=; read -r l < /proc/sys/net/ipv4/conf/${b}/route_localnet 2>/dev/null; echo "localnet ${b} $l"`),
    ...atts.flatMap((a) => {
      const d = `/sys/class/net/${a.veth}`;
      return [
        `i= f=; read -r i < ${d}/ifindex 2>/dev/null; read -r f < ${d}/flags 2>/dev/null`,
        `[ -e /sys/class/net/${a.bridge}/brif/${a.veth} ] && m=${a.bridge} || m=`,
        `echo "host ${a.index} $m/$f/$i"`,
        `echo "in ${a.index} $(tc qdisc show dev ${a.veth} root 2>/dev/null)"`,
      ];
    }),
    `nsenter --net=/proc/${pid}/ns/net sh -c ${q(inNamespaceListing)} 2>/dev/null | ${probeLabels}`,
    ...(withRules
      ? [
          `nft list chain ip ${nftTable(prefix)} ports 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "/nft /; s/"$//'`,
          `nft list chain ip6 ${nftTable(prefix)} ports 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "/nft6 /; s/"$//'`,
          foreignDnatsScript(prefix),
          guardListing(nftTable(prefix)),
          ingressProbe(nftTable(prefix)),
        ]
      : []),
  ].join("\n");
}

/** The probe of one running container's networks, rules included (probeNetScript's output; one command). */
export async function probeNet(t: Pick<Transport, "run">, prefix: string, pid: number, atts: Attachment[], ports: PortRule[]): Promise<string> {
  return (await t.run(["sh", "-c", probeNetScript(prefix, pid, atts, true, ports)])).stdout;
}

/**
 * Every DNAT rule of another nftables table ("dnat <family> <table> <rule>"): another prefix's
 * published port (or anyone's rule) on a port of ours takes its packets whenever its chain runs
 * first, and fights ours otherwise. Host ports belong to the machine.
 */
export const foreignDnatsScript = (prefix: string) =>
  `nft list ruleset 2>/dev/null | awk -v me=${q(`ip ${nftTable(prefix)}`)} -v me6=${q(`ip6 ${nftTable(prefix)}`)} '/^table / { t = $2 " " $3 } / dnat to / && t != me && t != me6 { sub(/^[ \t]+/, ""); print "dnat " t " " $0 }'`;

/** The other tables' DNAT rules that match a published port of ours (same protocol and port, overlapping address). */
export function shadowingRules(lines: string[], port: PortRule): string[] {
  return lines
    .filter((l) => {
      const proto = / (tcp|udp) dport (\d+)\b/.exec(l);
      if (!proto || proto[1] !== port.protocol || Number(proto[2]) !== port.hostPort) return false;
      const daddr = / ip6? daddr (\S+)/.exec(l)?.[1];
      return daddr === undefined || port.hostAddress === "0.0.0.0" || daddr === port.hostAddress;
    })
    .map((l) => l.slice(5).replace(/ comment ".*$/, ""));
}

/** Which attachments and whether the published ports differ from what the kernel shows. */
export interface NetDrift {
  /** indexes of attachments not as declared */
  attachments: number[];
  ports: boolean;
  /** Published ports that another table's DNAT rule also takes ("ports[i]: tcp 0.0.0.0:80 is also DNATed by table ip b: …"). */
  shadowed?: string[];
}

const IFF_UP = 0x1;

function rateOf(line: string): number | undefined {
  const m = /rate (\S+)/.exec(line);
  return m ? parseRate(m[1]!.toLowerCase()) : undefined;
}

/** tc prints rates rounded to its units: within 1% is the declared rate. */
const sameRate = (declared: number | undefined, shown: number | undefined) =>
  declared === undefined ? shown === undefined : shown !== undefined && Math.abs(shown - declared) <= declared / 100;

export function parseNetProbe(out: string, container: string, atts: Attachment[], ports: PortRule[]): NetDrift {
  const lines = out.split("\n");
  const val = (k: string) => (lines.find((l) => l === k || l.startsWith(`${k} `)) ?? "").slice(k.length + 1).trim();
  const inNs = (tag: string, re: RegExp) =>
    lines
      .filter((l) => l.startsWith(`${tag} `))
      .map((l) => re.exec(l.slice(tag.length + 1)))
      .filter((m): m is RegExpExecArray => m !== null);
  const drifted = atts
    .filter((a) => {
      const e = `eth${a.index}`;
      const [master, flags, ifindex] = val(`host ${a.index}`).split("/");
      const peer = inNs("L", new RegExp(`^\\d+: ${e}@if(\\d+):`))[0]?.[1];
      if (master !== a.bridge || !(Number(flags) & IFF_UP) || !ifindex || peer !== ifindex) return true;
      const addrs = inNs("A", new RegExp(`^\\d+: ${e}\\s+inet (\\S+)`)).map((m) => m[1]);
      if (addrs.join(" ") !== `${a.address}/${a.bits}`) return true;
      if (a.index === 0 && !val("route").startsWith(`default via ${a.gateway} dev eth0`)) return true;
      if (a.address6) {
        const addrs6 = inNs("A6", new RegExp(`^\\d+: ${e}\\s+inet6 (\\S+)`)).map((m) => m[1]);
        if (addrs6.join(" ") !== `${a.address6}/${a.bits6}`) return true;
        if (a.index === 0 && !val("route6").includes(` via ${a.gateway6} dev eth0 `)) return true;
      }
      const out = inNs("Q", new RegExp(`dev ${e} root .*`))[0]?.[0] ?? "";
      if (!sameRate(a.ingress, rateOf(val(`in ${a.index}`))) || !sameRate(a.egress, rateOf(out))) return true;
      // anti-spoofing: exactly its elements when guarded, none when not
      if (guardLinesOf(lines, a.veth).sort().join("\n") !== (a.guard ? wantedGuardLines(a).join("\n") : "")) return true;
      // declared ingress: its elements when filtered, none when not (each address: IPv4, and IPv6 on a dual-stack network)
      return !filteredAddresses(a).every((address) => ingressHolds(lines, container, address, a.allow));
    })
    .map((a) => a.index);
  const have = lines
    .filter((l) => l.startsWith(`nft ${containerOwner(container)} `))
    .map((l) => l.slice(4))
    .sort();
  const want = ruleComments(containerOwner(container), portRules(ports)).sort();
  const have6 = lines
    .filter((l) => l.startsWith(`nft6 ${containerOwner(container)} `))
    .map((l) => l.slice(5))
    .sort();
  const want6 = atts.some((a) => a.address6) ? ruleComments(containerOwner(container), portRules6(ports)).sort() : [];
  // a loopback-published port needs route_localnet on its bridge
  const localnet = loopbackBridges(atts, ports).every((b) => val(`localnet ${b}`) === "1");
  const dnats = lines.filter((l) => l.startsWith("dnat "));
  const shadowed = ports.flatMap((p, i) =>
    shadowingRules(dnats, p).map(
      (r) =>
        `ports[${i}]: ${p.protocol} ${p.hostAddress}:${p.hostPort} is also DNATed by table ${r.split(" ").slice(0, 2).join(" ")}: ${r.split(" ").slice(2).join(" ")}`,
    ),
  );
  return {
    attachments: drifted,
    ports: JSON.stringify(have) !== JSON.stringify(want) || JSON.stringify(have6) !== JSON.stringify(want6) || !localnet || shadowed.length > 0,
    ...(shadowed.length ? { shadowed } : {}),
  };
}
