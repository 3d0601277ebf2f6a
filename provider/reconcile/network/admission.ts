import { overlaps, parseSubnet, type Subnet } from "../../../schema/ipv4";
import { overlaps6, parseSubnet6 } from "../../../schema/ipv6";
import type { InputFailure } from "../../../schema/issues";
import type { NetworkArgs } from "../../../schema/network";
import { connectionKey } from "../../kernel/connection";
import type { NetworkSpec } from "../../kernel/network/bridge";
import { bridgeAlias } from "../../kernel/network/names";
import { claim, ownerConflict, stackOf } from "../ownership";
import type { Ctx } from "./context";

/**
 * admission's view of the host, in its fresh form's lines. At check (a burst) it comes from the
 * host's snapshot and one read of its interfaces and routes, shared by every network's check; a
 * create reads it afresh.
 */
async function admissionLines(c: Ctx): Promise<string[]> {
  const n = c.spec;
  if (!c.view.burst) return c.net.admissionLines(n.bridge);
  const snap = await c.snapshots.claims();
  const lines = (await c.view.networkHostLines(snap, () => c.net.hostLines())).split("\n");
  const iface = lines.find((l) => l === `iface ${n.bridge}` || l.startsWith(`iface ${n.bridge} `));
  return [
    ...lines.filter((l) => !l.startsWith("iface ")),
    `alias ${iface === undefined ? "-" : iface.slice(`iface ${n.bridge} `.length)}`,
    ...[...snap.networks.values()].map((spec) => `record -:${JSON.stringify(spec)}`),
  ];
}

/** What the host already holds that this network would collide with: subnets, the bridge name, tools. */
export async function admission(c: Ctx): Promise<InputFailure[]> {
  const n = c.spec;
  const lines = await admissionLines(c);
  const failures: InputFailure[] = [];
  const missing = lines.filter((l) => l.startsWith("missing ")).map((l) => l.slice(8));
  if (missing.length) {
    const pkg: Record<string, string> = { ip: "iproute2", tc: "iproute2", nft: "nftables", nsenter: "util-linux", flock: "util-linux" };
    failures.push({
      property: "host",
      reason: `host ${c.t.target} lacks ${missing.join(", ")}; install ${[...new Set(missing.map((m) => pkg[m]))].join(", ")}`,
    });
  }
  const alias = (lines.find((l) => l.startsWith("alias ")) ?? "alias -").slice(6);
  if (alias !== "-" && alias !== bridgeAlias(c.prefix, n.name)) {
    const owner = alias ? `its alias is ${JSON.stringify(alias)}` : "it has no alias";
    failures.push({
      property: "bridge",
      reason: `got ${JSON.stringify(n.bridge)}, an interface that already exists on host ${c.t.target} and is not this network's (${owner}); choose another name`,
    });
  }
  const mine = parseSubnet(n.subnet)!;
  for (const l of lines.filter((x) => x.startsWith("record "))) {
    const json = l.slice(l.indexOf(":", 7) + 1);
    const other = JSON.parse(json) as NetworkSpec;
    if (other.name === n.name) {
      const conflict = ownerConflict(`network ${n.name} under prefix ${c.prefix} on host ${c.t.target}`, other.owner, n.owner, c.adopt);
      if (conflict) failures.push({ property: "name", reason: conflict });
      continue;
    }
    if (overlaps(mine, parseSubnet(other.subnet)!)) {
      failures.push({
        property: "subnet",
        reason: `got ${JSON.stringify(n.subnet)}, which overlaps network ${other.name}'s ${other.subnet} on host ${c.t.target}`,
      });
    }
    if (overlap6(n.subnet6, other.subnet6))
      failures.push({
        property: "subnet6",
        reason: `got ${JSON.stringify(n.subnet6)}, which overlaps network ${other.name}'s ${other.subnet6} on host ${c.t.target}`,
      });
    if (other.bridge === n.bridge)
      failures.push({ property: "bridge", reason: `got ${JSON.stringify(n.bridge)}, already the bridge of network ${other.name}` });
  }
  // another prefix's networks on this machine: their subnets are routed by the same kernel
  for (const l of lines.filter((x) => x.startsWith("other "))) {
    const [, prefix = "", ...rest] = l.split(" ");
    let other: NetworkSpec;
    try {
      other = JSON.parse(rest.join(" ")) as NetworkSpec;
    } catch {
      continue;
    }
    // the same resource under another prefix (its host moved: it is replaced, deleting first)
    if (n.owner && other.owner === n.owner) continue;
    const holder = `network ${other.name} under prefix ${prefix} of this machine (${other.owner ? `stack ${stackOf(other.owner)}, ${other.owner}` : "no owner recorded"})`;
    if (other.subnet && overlaps(mine, parseSubnet(other.subnet)!)) {
      failures.push({
        property: "subnet",
        reason: `got ${JSON.stringify(n.subnet)}, which overlaps ${other.subnet} of ${holder} on host ${c.t.target}; choose a free range`,
      });
    }
    if (overlap6(n.subnet6, other.subnet6))
      failures.push({
        property: "subnet6",
        reason: `got ${JSON.stringify(n.subnet6)}, which overlaps ${other.subnet6} of ${holder} on host ${c.t.target}; choose a free prefix`,
      });
    if (other.bridge === n.bridge) failures.push({ property: "bridge", reason: `got ${JSON.stringify(n.bridge)}, already the bridge of ${holder}` });
  }
  for (const l of lines.filter((x) => x.startsWith("route "))) {
    const [dst, , dev] = l.slice(6).split(" ");
    if (dev === n.bridge || !dst) continue;
    const route: Subnet | undefined = dst === "default" ? undefined : parseSubnet(dst.includes("/") ? dst : `${dst}/32`);
    if (route && overlaps(mine, route) && !failures.some((f) => f.property === "subnet")) {
      failures.push({
        property: "subnet",
        reason: `got ${JSON.stringify(n.subnet)}, which overlaps the host's route to ${dst} via ${dev} on ${c.t.target}; choose a free range`,
      });
    }
  }
  return failures;
}

/** Two IPv6 prefixes, either possibly absent, that share an address. */
function overlap6(a: string | undefined, b: string | undefined): boolean {
  const x = a === undefined ? undefined : parseSubnet6(a);
  const y = b === undefined ? undefined : parseSubnet6(b);
  return x !== undefined && y !== undefined && overlaps6(x, y);
}

/**
 * Names and subnets declared in this program, claimed at check: two networks of one name on one
 * host and prefix, or two overlapping subnets on one host, are refused before either exists.
 */
export function claims(c: Ctx, a: NetworkArgs, owner: string | undefined): InputFailure[] {
  if (!owner) return [];
  const host = connectionKey(a.host.connection);
  const failures: InputFailure[] = [];
  for (const other of claim(`network ${host}/${a.host.prefix}`, owner, a.name)) {
    failures.push({ property: "name", reason: `got ${JSON.stringify(a.name)}, also the name of ${other} in this program` });
  }
  const overlap = (x: string, y: string) => overlaps(parseSubnet(x.split(" ")[0]!)!, parseSubnet(y.split(" ")[0]!)!);
  for (const other of claim(`subnet ${host}`, owner, `${c.spec.subnet} ${a.name}`, overlap)) {
    failures.push({
      property: "subnet",
      reason: `got ${JSON.stringify(a.subnet)}, which overlaps the subnet of ${other} in this program on host ${c.t.target}`,
    });
  }
  if (c.spec.subnet6 === undefined) return failures;
  const overlapping6 = (x: string, y: string) => overlap6(x.split(" ")[0], y.split(" ")[0]);
  for (const other of claim(`subnet6 ${host}`, owner, `${c.spec.subnet6} ${a.name}`, overlapping6)) {
    failures.push({
      property: "subnet6",
      reason: `got ${JSON.stringify(a.subnet6)}, which overlaps the IPv6 prefix of ${other} in this program on host ${c.t.target}`,
    });
  }
  return failures;
}
