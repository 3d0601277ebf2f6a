import { shellQuote as q } from "../shell";
import { hostLayout, type HostLayout } from "../container/layout";
import type { Transport } from "../../transport/transport";
import { foreignDnatsScript, loopbackBridges, nsListingArgs, nsListingBatch, probeLabels, type Attachment } from "./attach";
import { guardListing } from "./guard";
import { ingressProbe } from "./ingress";
import { linkLocalFor, nftTable } from "./names";
import type { PortRule } from "./nft";

/**
 * What the kernel shows of every running container's networks on a host, in one command: the
 * host's side once (veths, bridge ports, route_localnet, qdiscs, port rules) and each container's
 * namespace entered once. Only containers whose net.sh joins networks (one grep for all) are
 * entered, through the pid in their bundle's init.pid (the runtime writes it at every start): the
 * script takes no input and its size is fixed; a caller takes a container's part only when its
 * pid is the one the runtime reports. probeTextFor cuts one container's part out, in
 * probeNetScript's format.
 */
export function probeAllNetScript(prefix: string, layout: HostLayout): string {
  return [
    `echo @@veths`,
    `for d in /sys/class/net/ks*; do [ -e "$d/ifindex" ] || continue; i= f=; read -r i < "$d/ifindex"; read -r f < "$d/flags"; echo "\${d##*/} $f $i"; done`,
    `echo @@brif`,
    `for p in /sys/class/net/*/brif/ks*; do [ -e "$p" ] || continue; b=\${p%/brif/*}; echo "\${b##*/} \${p##*/}"; done`,
    `echo @@localnet`,
    `for b in /sys/class/net/*/bridge; do b=\${b%/bridge}; b=\${b##*/}; l=; read -r l < "/proc/sys/net/ipv4/conf/$b/route_localnet" 2>/dev/null; echo "$b $l"; done`,
    `echo @@qdisc`,
    `tc qdisc show 2>/dev/null`,
    `echo @@nft`,
    `nft list chain ip ${nftTable(prefix)} ports 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "//; s/"$//'`,
    `echo @@nft6`,
    `nft list chain ip6 ${nftTable(prefix)} ports 2>/dev/null | grep -o 'comment "[^"]*"' | sed 's/^comment "//; s/"$//'`,
    `echo @@dnat`,
    foreignDnatsScript(prefix),
    `echo @@guard`,
    guardListing(nftTable(prefix)),
    `echo @@ingress`,
    ingressProbe(nftTable(prefix)),
    `nets=$(grep -l 'inns()' ${q(layout.containers)}/*/net.sh 2>/dev/null)`,
    // One program per namespace: nsenter runs ip itself, its commands in a here-document. The diffs
    // of a preview all wait on this read: the namespaces are split between as many shells as the
    // host has CPUs (up to 4), each writing its own file (their lines must not interleave).
    `k=$(nproc 2>/dev/null) || k=1; [ "$k" -le 4 ] || k=4`,
    `d=$(mktemp -d) || exit 1; trap 'rm -rf "$d"' EXIT; trap 'exit 1' INT TERM HUP`,
    `j=0; while [ $j -lt $k ]; do`,
    `  printf '%s\\n' $nets | awk -v k=$k -v j=$j 'NF && NR % k == j' | while read -r f; do`,
    `    b=\${f%/net.sh}; pid=; { read -r pid < "$b/init.pid"; } 2>/dev/null; [ -n "$pid" ] || continue`,
    `    echo "@@ns \${b##*/} $pid"; nsenter --net="/proc/$pid/ns/net" ip ${nsListingArgs} 2>/dev/null <<'KSLICE_IP'`,
    ...nsListingBatch,
    `KSLICE_IP`,
    `  done > "$d/$j" &`,
    `  j=$((j + 1))`,
    `done`,
    `wait`,
    `seen=$(cat "$d"/* | ${probeLabels})`,
    `printf '%s\\n' "$seen"`,
    // tc only where a link's root qdisc is not the default (noqueue, noop): an egress limit, or one
    // put there by hand; "@@tc" adds its "Q" lines to the namespace already listed
    `printf '%s\\n' "$seen" | awk '/^@@ns / { n = $2 " " $3 } /^L .* qdisc / && !/ qdisc (noqueue|noop) / { print n }' | uniq | while read -r n pid; do`,
    `  echo "@@tc $n $pid"; nsenter --net="/proc/$pid/ns/net" tc qdisc show 2>/dev/null | sed 's/^/Q /'`,
    `done`,
    `true`,
  ].join("\n");
}

export interface HostNetView {
  /** veth → [flags, ifindex] as sysfs shows them */
  veths: Map<string, [string, string]>;
  /** "<bridge> <veth>" for each port of a bridge */
  ports: Set<string>;
  localnet: Map<string, string>;
  qdiscs: string[];
  comments: string[];
  /** Comments of the ip6 table's port rules (dual-stack networks). */
  comments6: string[];
  /** Other tables' DNAT rules, as foreignDnatsScript prints them. */
  dnats: string[];
  /** The anti-spoofing sets' elements, as guardListing prints them. */
  guard: string[];
  /** The ingress sets' elements, as ingressProbe prints them. */
  ingress: string[];
  /** container → the lines its namespace printed */
  namespaces: Map<string, string[]>;
  /** container → the pid whose namespace was entered */
  pids: Map<string, number>;
}

export function parseProbeAll(out: string): HostNetView {
  const view: HostNetView = {
    veths: new Map(),
    ports: new Set(),
    localnet: new Map(),
    qdiscs: [],
    comments: [],
    comments6: [],
    dnats: [],
    guard: [],
    ingress: [],
    namespaces: new Map(),
    pids: new Map(),
  };
  let section = "";
  let ns: string[] = [];
  for (const line of out.split("\n")) {
    if (line.startsWith("@@ns ")) {
      const [name = "", pid = ""] = line.slice(5).split(" ");
      view.namespaces.set(name, (ns = []));
      view.pids.set(name, Number(pid));
      section = "ns";
      continue;
    }
    if (line.startsWith("@@tc ")) {
      // the qdiscs of a namespace listed above, entered again with the same pid
      const [name = "", pid = ""] = line.slice(5).split(" ");
      ns = view.pids.get(name) === Number(pid) ? (view.namespaces.get(name) ?? []) : [];
      section = "ns";
      continue;
    }
    if (line.startsWith("@@")) {
      section = line.slice(2);
      continue;
    }
    if (!line) continue;
    const [a = "", b = "", c = ""] = line.split(" ");
    if (section === "veths") view.veths.set(a, [b, c]);
    else if (section === "brif") view.ports.add(`${a} ${b}`);
    else if (section === "localnet") view.localnet.set(a, b);
    else if (section === "qdisc") view.qdiscs.push(line);
    else if (section === "nft") view.comments.push(line);
    else if (section === "nft6") view.comments6.push(line);
    else if (section === "dnat") view.dnats.push(line);
    else if (section === "guard") view.guard.push(line);
    else if (section === "ingress") view.ingress.push(line);
    else if (section === "ns") ns.push(line);
  }
  return view;
}

/** The view's per-device lines, found by device (built once per view: a preview asks it for every container). */
interface ViewIndex {
  rootQdisc: Map<string, string>;
  /** guard lines by their veth field, quoted as listed */
  guard: Map<string, string[]>;
  /** positions of the ingress lines in the listing, by kind and address field ("I <set> <address> …", "I6 …") */
  ingress: Map<string, number[]>;
}
const indexes = new WeakMap<HostNetView, ViewIndex>();

function indexOf(view: HostNetView): ViewIndex {
  let x = indexes.get(view);
  if (x) return x;
  x = { rootQdisc: new Map(), guard: new Map(), ingress: new Map() };
  for (const l of view.qdiscs) {
    const dev = / dev (\S+) root /.exec(l)?.[1];
    if (dev && !x.rootQdisc.has(dev)) x.rootQdisc.set(dev, l);
  }
  const add = <T>(m: Map<string, T[]>, k: string, v: T) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  for (const l of view.guard) if (l.startsWith("G ")) add(x.guard, l.split(" ")[2]!, l);
  view.ingress.forEach((l, i) => add(x.ingress, `${l.split(" ")[0]} ${l.split(" ")[2]}`, i));
  indexes.set(view, x);
  return x;
}

/** One container's part of the host's view, as probeNetScript prints it; undefined if its namespace was not entered. */
export function probeTextFor(view: HostNetView, container: string, atts: Attachment[], ports: PortRule[]): string | undefined {
  const inside = view.namespaces.get(container);
  if (!inside) return undefined;
  const x = indexOf(view);
  // in the listing's order, each line once
  const ingress = (kind: string, addresses: (string | undefined)[]) =>
    [...new Set([...new Set(addresses)].flatMap((a) => (a ? (x.ingress.get(`${kind} ${a}`) ?? []) : [])))].sort((i, j) => i - j).map((i) => view.ingress[i]!);
  return [
    ...loopbackBridges(atts, ports).map((b) => `localnet ${b} ${view.localnet.get(b) ?? ""}`),
    ...atts.flatMap((a) => {
      const [flags = "", ifindex = ""] = view.veths.get(a.veth) ?? [];
      const master = view.ports.has(`${a.bridge} ${a.veth}`) ? a.bridge : "";
      return [`host ${a.index} ${master}/${flags}/${ifindex}`, `in ${a.index} ${x.rootQdisc.get(a.veth) ?? ""}`];
    }),
    ...inside,
    ...view.comments.map((c) => `nft ${c}`),
    ...view.comments6.map((c) => `nft6 ${c}`),
    ...view.dnats,
    ...atts.flatMap((a) => x.guard.get(`"${a.veth}"`) ?? []),
    ...ingress(
      "I",
      atts.map((a) => a.address),
    ),
    // the ip6 table's (dual-stack networks): the IPv6 address and the link-local one of the MAC
    ...ingress(
      "I6",
      atts.flatMap((a) => (a.address6 ? [a.address6, linkLocalFor(a.mac)] : [])),
    ),
  ].join("\n");
}

/** One probe of every networked container of the prefix (probeAllNetScript), parsed: one command. */
export async function probeAllNets(t: Pick<Transport, "run">, prefix: string): Promise<HostNetView> {
  // hundreds of namespaces entered take longer than a command's default minute on a loaded host
  return parseProbeAll((await t.run(["sh", "-c", probeAllNetScript(prefix, hostLayout(prefix))], { timeoutMs: 600_000 })).stdout);
}
