import { parseIPv4, parseSubnet } from "../../../schema/ipv4";
import { formatIPv6, parseIPv6, parseSubnet6 } from "../../../schema/ipv6";
import { shellQuote as q } from "../shell";
import type { HostLayout } from "../container/layout";
import { durably } from "../durable";
import type { CommandResult, Transport } from "../../transport/transport";

export interface AllocationRequest {
  network: string;
  subnet: string;
  gateway: string;
  /** Allocated addresses come from here. @default the subnet */
  dynamicRange?: string;
  /** A static address; undefined: the lowest free one. */
  address?: string;
}

/**
 * Claims one address per network for a container, on the host, under each network's lock: a file
 * addresses/<ip> holding the owner's name. Parallel creates (engine, several hosts' runs) cannot
 * get the same address, and a container keeps its address while it exists (stopped included).
 * Idempotent: a container that already holds an address on a network gets it back (a static
 * address that changed moves the claim). Prints "<network> <address>" per network.
 */
export function allocateScript(layout: HostLayout, container: string, reqs: AllocationRequest[]): string {
  const lines = [`c=${q(container)}`];
  for (const r of reqs) {
    const s = parseSubnet(r.subnet)!;
    const range = r.dynamicRange ? parseSubnet(r.dynamicRange)! : s;
    const first = Math.max(range.base, s.base + 1);
    const last = Math.min(range.base + range.size - 1, s.base + s.size - 2);
    const d = `${layout.network(r.network)}/addresses`;
    const want = r.address === undefined ? "" : r.address;
    lines.push(
      `d=${q(d)}`,
      `[ -d "$d" ] || { echo ${q(`networks: network ${JSON.stringify(r.network)} is not on the host (create its Network first)`)} >&2; exit 3; }`,
      `exec 9>"$d/../lock"; flock -w 60 9 || { echo "timed out waiting for the lock of network ${r.network}" >&2; exit 1; }`,
      `mine=$(grep -lxF -- "$c" "$d"/* 2>/dev/null | head -n 1); mine=\${mine##*/}`,
      want
        ? [
            `want=${q(want)}`,
            `if [ "$mine" != "$want" ]; then`,
            `  if [ -e "$d/$want" ]; then echo "networks: address $want on network ${r.network} is taken by container $(cat "$d/$want")${r.dynamicRange ? "" : " (a network's dynamicRange keeps allocated addresses away from static ones)"}" >&2; exit 4; fi`,
            `  [ -n "$mine" ] && rm -f "$d/$mine"`,
            `  echo "$c" > "$d/$want"; mine=$want`,
            `fi`,
          ].join("\n")
        : [
            `if [ -z "$mine" ]; then`,
            `  i=${first}; end=${last}; gw=${parseIPv4(r.gateway)}`,
            `  while [ $i -le $end ]; do`,
            `    ip=$((i >> 24 & 255)).$((i >> 16 & 255)).$((i >> 8 & 255)).$((i & 255))`,
            `    [ $i -ne $gw ] && [ ! -e "$d/$ip" ] && break`,
            `    i=$((i + 1))`,
            `  done`,
            `  [ $i -le $end ] || { echo "networks: network ${r.network} (${r.dynamicRange ?? r.subnet}) has no free address left" >&2; exit 4; }`,
            `  echo "$c" > "$d/$ip"; mine=$ip`,
            `fi`,
          ].join("\n"),
      `exec 9>&-`,
      `echo ${q(r.network)} "$mine"`,
    );
  }
  return lines.join("\n");
}

export function parseAllocations(out: string): Map<string, string> {
  return new Map(
    out
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ") as [string, string]),
  );
}

/** Gives back a container's addresses, on the named networks or (none named) on every network. */
export function releaseScript(layout: HostLayout, container: string, networks?: string[]): string {
  const dirs = networks ? networks.map((n) => q(`${layout.network(n)}/addresses`)).join(" ") : `${q(layout.networks)}/*/addresses`;
  return `for d in ${dirs}; do [ -d "$d" ] || continue; grep -lxF -- ${q(container)} "$d"/* 2>/dev/null | xargs -r rm -f; done; exit 0`;
}

/** Gives back a container's addresses (releaseScript), on disk when it returns: one command. */
export const releaseAddresses = (t: Pick<Transport, "run">, layout: HostLayout, container: string, networks?: string[]): Promise<CommandResult> =>
  t.run([
    "sh",
    "-c",
    durably(releaseScript(layout, container, networks), networks ? networks.map((n) => `${layout.network(n)}/addresses`) : [`${layout.networks}/*/addresses`]),
  ]);

/** The addresses a request may take: [first, last] as numbers, the gateway left out by the caller. */
function bounds(r: Pick<AllocationRequest, "subnet" | "dynamicRange">): [number, number] {
  const s = parseSubnet(r.subnet)!;
  const range = r.dynamicRange ? parseSubnet(r.dynamicRange)! : s;
  return [Math.max(range.base, s.base + 1), Math.min(range.base + range.size - 1, s.base + s.size - 2)];
}

const dotted = (i: number) => [i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255].join(".");

/**
 * The lowest address of the request's range that is neither the gateway nor in `taken` (the
 * network's claims as last read, and the picks of creates under way in this process); undefined
 * when the range is full. The claim script takes it only if it is still free.
 */
export function chooseAddress(r: AllocationRequest, taken: ReadonlySet<string>): string | undefined {
  const [first, last] = bounds(r);
  const gw = parseIPv4(r.gateway);
  for (let i = first; i <= last; i++) if (i !== gw && !taken.has(dotted(i))) return dotted(i);
  return undefined;
}

/**
 * The lowest IPv6 address of the prefix (after its first, the subnet-router anycast), or of its
 * `dynamicRange6` inside it, that is neither the gateway nor in `taken`; undefined when the range
 * is full. As chooseAddress.
 */
export function chooseAddress6(subnet6: string, gateway6: string, taken: ReadonlySet<string>, dynamicRange6?: string): string | undefined {
  const s = parseSubnet6(subnet6)!;
  const r = dynamicRange6 ? parseSubnet6(dynamicRange6)! : s;
  const first = r.base > s.base ? r.base : s.base + 1n;
  const end = r.base + r.size < s.base + s.size ? r.base + r.size : s.base + s.size;
  const gw = parseIPv6(gateway6);
  // the lowest free one lies within taken.size + 2 steps of the start
  for (let i = first; i < end && i <= first + BigInt(taken.size) + 1n; i++) {
    if (i !== gw && !taken.has(formatIPv6(i))) return formatIPv6(i);
  }
  return undefined;
}

/** The key of a container's IPv6 address in a snapshot's per-network addresses: "<network>/6" (network names hold no "/"). */
export const v6Key = (network: string) => `${network}/6`;

export interface AddressClaim {
  network: string;
  /** IPv4 dotted, or IPv6 in canonical notation (the claim file's name either way). */
  address: string;
  /** 6: an IPv6 address (claims of both families share the network's directory; an IPv4 name holds a ".", an IPv6 one a ":"). */
  family?: 6;
  /** Declared by the user: taken by another container is an error, not a lost race to retry. */
  declared: boolean;
  dynamicRange?: string;
}

/** Exit status of a claim script when another create took a chosen address or range first: read again and retry. */
export const lostRace = 75;

/**
 * Claims the chosen addresses for a container, each under its network's lock and by an exclusive
 * create (set -C): an address another container holds fails the script, with exit status
 * `lostRace` for an allocated one (chosen from a stale read) and 4 for a declared one. A claim the
 * container already holds is kept; one it holds on the network at another address moves.
 */
export function claimAddressesScript(layout: HostLayout, container: string, claims: AddressClaim[], fresh = false): string {
  const lines = [`c=${q(container)}`];
  for (const r of claims) {
    if (fresh) {
      // a container being created holds no other address here (a left-over create's claims went
      // with it): the exclusive create alone claims, with no lock and no read of the other claims
      lines.push(
        `d=${q(`${layout.network(r.network)}/addresses`)}; want=${q(r.address)}`,
        `[ -d "$d" ] || { echo ${q(`networks: network ${JSON.stringify(r.network)} is not on the host (create its Network first)`)} >&2; exit 3; }`,
        `if ! (set -C; echo "$c" > "$d/$want") 2>/dev/null; then`,
        `  o=; read -r o < "$d/$want" 2>/dev/null`,
        `  [ "$o" = "$c" ] || { echo "networks: address $want on network ${r.network} ${r.declared ? "is taken by container $o" : "was taken meanwhile"}" >&2; exit ${r.declared ? 4 : lostRace}; }`,
        `fi`,
      );
      continue;
    }
    lines.push(
      `d=${q(`${layout.network(r.network)}/addresses`)}; want=${q(r.address)}`,
      `[ -d "$d" ] || { echo ${q(`networks: network ${JSON.stringify(r.network)} is not on the host (create its Network first)`)} >&2; exit 3; }`,
      `exec 9>"$d/../lock"; flock -w 60 9 || { echo "timed out waiting for the lock of network ${r.network}" >&2; exit 1; }`,
      `mine=$(grep -lxF -- "$c" "$d"/${r.family === 6 ? "*:*" : "*.*"} 2>/dev/null | head -n 1); mine=\${mine##*/}`,
      `if [ "$mine" != "$want" ]; then`,
      r.declared
        ? `  [ -e "$d/$want" ] && { echo "networks: address $want on network ${r.network} is taken by container $(cat "$d/$want")${r.dynamicRange ? "" : ` (a network's ${r.family === 6 ? "dynamicRange6" : "dynamicRange"} keeps allocated addresses away from static ones)`}" >&2; exit 4; }`
        : `  [ -e "$d/$want" ] && { echo "networks: address $want on network ${r.network} was taken meanwhile" >&2; exit ${lostRace}; }`,
      `  (set -C; echo "$c" > "$d/$want") 2>/dev/null || { echo "networks: address $want on network ${r.network} was taken meanwhile" >&2; exit ${r.declared ? 4 : lostRace}; }`,
      `  [ -n "$mine" ] && rm -f "$d/$mine"`,
      `fi`,
      `exec 9>&-`,
    );
  }
  lines.push("exit 0");
  return lines.join("\n");
}
