import { attachmentName, portKey, portsClash } from "../../../schema/container-network";
import type { ContainerArgs } from "../../../schema/container";
import { isHostAddress, parseIPv4, parseSubnet } from "../../../schema/ipv4";
import type { InputFailure } from "../../../schema/issues";
import type { HostLayout } from "../../kernel/container/layout";
import { netShFile, parseNetProbe, probeNet, type Attachment, type NetDrift } from "../../kernel/network/attach";
import type { NetworkSpec } from "../../kernel/network/bridge";
import { readNetworkRecords } from "../../kernel/network/host";
import type { ClaimsSnapshot, ContainerSnapshot } from "../../kernel/container/snapshot";
import { hostnameFile, hostsFile, resolvConf } from "../../kernel/network/dns";
import { linkLocalFor, macFor, vethAlias, vethName } from "../../kernel/network/names";
import type { PortRule } from "../../kernel/network/nft";
import type { PortClaim } from "../../kernel/network/port-claims";
import { stackOf } from "../ownership";
import { v6Key } from "../../kernel/network/allocate";
import { canonical6 } from "../../../schema/ipv6";
import { admit6, ports6OnIPv4Only } from "./network6";
import type { Transport } from "../../transport/transport";
import type { HostView } from "../host-view";
import { ingressFailures, ipv6SourceFailures, resolveIngress, type IngressRules } from "../../../schema/ingress";

/** What ingress sources resolve against: the host's network records and the addresses containers hold. */
export interface IngressWorld {
  networks: Map<string, NetworkSpec>;
  addresses: Map<string, Map<string, string>>;
}

/**
 * The flows let in to the container's address on one network: its own `ingress`, else the
 * network's; undefined (no filtering) when neither declares any.
 */
function allowedOn(a: ContainerArgs, rec: NetworkSpec, own: Map<string, string>, world: IngressWorld) {
  const rules: IngressRules | undefined = a.ingress ?? rec.ingress;
  if (!rules) return undefined;
  // IPv4 and IPv6 addresses (keys "<network>" and "<network>/6"), each filtering its own family
  // (ingress.ts), and on a dual-stack network the link-local address its MAC gives (net.sh sets it)
  const addressesOf = (name: string) => {
    const held = (name === a.name ? own : world.addresses.get(name)) ?? new Map<string, string>();
    const linkLocal = [...held].filter(([k]) => held.has(v6Key(k))).map(([, v]) => linkLocalFor(macFor(parseIPv4(v)!)));
    const all = [...held.values(), ...linkLocal];
    return all.length ? all.sort() : undefined;
  };
  const subnetsOf = (n: string) => {
    const rec = world.networks.get(n);
    return rec && [rec.subnet, ...(rec.subnet6 ? [rec.subnet6] : [])];
  };
  return resolveIngress(rules, addressesOf, subnetsOf);
}

/** Does the container touch networking at all? (No network and no ports: kslice adds nothing.) */
export const hasNetworking = (a: ContainerArgs) => a.networks.length > 0 || a.ports.length > 0;

/** The host's records of the container's networks; a missing one is an unknown network. */
export const networkRecords = (t: Transport, layout: HostLayout, a: ContainerArgs): Promise<Map<string, NetworkSpec | undefined>> =>
  readNetworkRecords(t, layout, a.networks.map(attachmentName));

/** The kernel objects a container's networking consists of, from its declaration and the host's records. */
export function netPlan(
  prefix: string,
  a: ContainerArgs,
  records: Map<string, NetworkSpec | undefined>,
  addresses: Map<string, string>,
  world: IngressWorld = { networks: new Map(), addresses: new Map() },
) {
  const atts: Attachment[] = a.networks.map((n, index) => {
    const rec = records.get(attachmentName(n))!;
    const address = addresses.get(rec.name)!;
    return {
      index,
      network: rec.name,
      bridge: rec.bridge,
      address,
      bits: rec.bits,
      gateway: rec.gateway,
      veth: vethName(prefix, a.name, index, rec.name),
      alias: vethAlias(prefix, a.name, rec.name),
      mac: macFor(parseIPv4(address)!),
      ingress: n.bandwidth?.ingress,
      egress: n.bandwidth?.egress,
      guard: n.antiSpoofing !== false,
      ...(rec.subnet6 && addresses.get(v6Key(rec.name)) ? { address6: addresses.get(v6Key(rec.name))!, bits6: rec.bits6!, gateway6: rec.gateway6! } : {}),
      allow: allowedOn(a, rec, addresses, world),
    };
  });
  const ports: PortRule[] = a.ports.map((p) => ({
    protocol: p.protocol,
    hostAddress: canonical6(p.hostAddress),
    hostPort: p.hostPort,
    containerPort: p.containerPort ?? p.hostPort,
    ...(({ address, address6 }) => ({ address, ...(address6 ? { address6 } : {}) }))(atts.find((x) => x.network === (p.network ?? atts[0]!.network))!),
  }));
  return { atts, ports };
}
export type NetPlan = ReturnType<typeof netPlan>;

/** The bundle's net.sh: the container's networks and ports, or, with neither, the removal of what it had. */
export const netFile = (prefix: string, layout: HostLayout, a: ContainerArgs, p: NetPlan) =>
  netShFile(prefix, layout, a.name, hasNetworking(a) ? p : undefined);

export function etcFiles(a: ContainerArgs, p: NetPlan, hostResolv: string) {
  return {
    resolv: resolvConf(a.dns, hostResolv),
    hosts: hostsFile(
      a.hostname ?? a.name,
      p.atts.flatMap((x) => (x.address6 ? [x.address, x.address6] : [x.address])),
      a.hosts,
    ),
    hostname: hostnameFile(a.hostname ?? a.name),
  };
}

/**
 * The container's networks and addresses as the host holds them (from the host's shared snapshot:
 * one read serves every container) and, when it runs, a probe of its namespace (one for the
 * whole burst of a preview or refresh: see HostView.netProbeText).
 */
export async function observeNet(view: HostView, a: ContainerArgs, pid: number | undefined, snap: ContainerSnapshot) {
  const prefix = view.host.prefix;
  const names = a.networks.map(attachmentName);
  const records = new Map<string, NetworkSpec | undefined>(names.map((n) => [n, snap.networks.get(n)]));
  const addresses = snap.addresses.get(a.name) ?? new Map<string, string>();
  let drift: NetDrift | undefined;
  if (pid && hasNetworking(a)) {
    const missing = a.networks.map((_, i) => i).filter((i) => !records.get(names[i]!) || !addresses.has(names[i]!));
    if (missing.length) drift = { attachments: missing, ports: a.ports.length > 0 };
    else {
      const p = netPlan(prefix, a, records, addresses, snap);
      const own = () => probeNet(view.t, prefix, pid, p.atts, p.ports);
      drift = parseNetProbe(await view.netProbeText(snap, a.name, pid, p.atts, p.ports, own), a.name, p.atts, p.ports);
    }
  }
  return { records, addresses, drift };
}

/** Who holds a port: the container, and for another prefix of the machine that prefix and the owner's stack. */
function holderText(claim: PortClaim, prefix: string): string {
  if (claim.prefix === prefix) return `container ${claim.container}`;
  return `container ${claim.container} under prefix ${claim.prefix} of this machine (${claim.owner ? `stack ${stackOf(claim.owner)}, ${claim.owner}` : "no owner recorded"})`;
}

/**
 * Checks at preview against the host: networks that do not exist, addresses outside their subnet
 * or held by another container, ports published by another container (of any prefix: host ports
 * belong to the machine) or bound by a host process. Everything comes from the host's snapshot,
 * shared by the checks of every container. `owner`: this resource's URN (its claims under another
 * prefix of the machine are its own: it is moving there).
 */
export async function netAdmission(
  view: HostView,
  layout: HostLayout,
  a: ContainerArgs,
  snap: ClaimsSnapshot,
  previousName?: string,
  owner?: string,
): Promise<InputFailure[]> {
  const t = view.t;
  // claims held under the container's old name are its own: a rename replaces it, deleting first
  const mine = (holder: string | undefined) => holder === a.name || (previousName !== undefined && holder === previousName);
  if (!hasNetworking(a)) return [];
  const failures: InputFailure[] = [];
  const records = new Map(a.networks.map((n) => [attachmentName(n), snap.networks.get(attachmentName(n))]));
  const holder = (network: string, address: string) => [...snap.addresses].find(([, held]) => held.get(network) === address)?.[0];
  // an IPv6 source lets in only to an IPv6 address: on a container with none it is a mistake
  const dual = a.networks.map((n) => records.get(attachmentName(n))).find((r) => r?.subnet6);
  if (a.ingress && !dual && a.networks.every((n) => records.get(attachmentName(n))))
    failures.push(...ipv6SourceFailures("ingress", a.ingress, `container ${a.name} has no IPv6 address (none of its networks declares a subnet6)`));
  const owners = a.networks.map((n) => {
    const rec = records.get(attachmentName(n));
    return n.address && rec ? holder(rec.name, n.address) : undefined;
  });
  a.networks.forEach((n, i) => {
    const name = attachmentName(n);
    const rec = records.get(name);
    // A Network's ref is checked by the schema; one given by name is known only here.
    if (!rec) {
      if (typeof n.network === "string")
        failures.push({
          property: `networks.${i}.network`,
          reason: `got ${JSON.stringify(name)}; no such network on host ${t.target} under prefix ${layout.stateDir.split("/").pop()} (create a Network of that name, or pass the Network's ref)`,
        });
      return;
    }
    failures.push(...admit6(n.address6, rec, i, name, holder(v6Key(rec.name), n.address6 === undefined ? "" : canonical6(n.address6)), mine));
    if (typeof n.network === "string") failures.push(...ports6OnIPv4Only(a, rec, name));
    if (n.address === undefined) return;
    const s = parseSubnet(rec.subnet)!;
    if (!isHostAddress(s, parseIPv4(n.address)!) || n.address === rec.gateway) {
      failures.push({
        property: `networks.${i}.address`,
        reason: `got ${JSON.stringify(n.address)}; expected a free host address in ${name}'s subnet ${rec.subnet}, other than its gateway ${rec.gateway}`,
      });
    } else if (owners[i] !== undefined && !mine(owners[i])) {
      const hint = rec.dynamicRange ? "" : "; give the network a dynamicRange that leaves static addresses out, so parallel creates cannot take them";
      failures.push({
        property: `networks.${i}.address`,
        reason: `got ${JSON.stringify(n.address)}, already the address of container ${owners[i]} on network ${name}${hint}`,
      });
    }
  });
  if (a.ingress) {
    const prefix = layout.stateDir.split("/").pop()!;
    const where = `on host ${t.target} under prefix ${prefix}`;
    failures.push(
      ...ingressFailures(
        "ingress",
        a.ingress,
        (n) => n === a.name || (snap.addresses.get(n)?.size ?? 0) > 0,
        (n) => snap.networks.has(n),
        where,
      ),
    );
  }
  if (a.ports.length) {
    const { claims, sockets } = await view.portsInUse(snap);
    const prefix = layout.stateDir.split("/").pop()!;
    const taken = claims.filter((x) => (x.prefix === prefix ? !mine(x.container) : !(owner && x.owner === owner)));
    a.ports.forEach((p, i) => {
      const other = taken.find((x) => portsClash(x.key, portKey(p)));
      if (other)
        failures.push({
          property: `ports.${i}.hostPort`,
          reason: `got ${p.protocol} ${p.hostAddress}:${p.hostPort}, already published by ${holderText(other, prefix)}`,
        });
      const sock = sockets.find(
        (s) => s.proto === p.protocol && s.port === p.hostPort && (s.addr === "0.0.0.0" || p.hostAddress === "0.0.0.0" || s.addr === canonical6(p.hostAddress)),
      );
      if (!other && sock)
        failures.push({
          property: `ports.${i}.hostPort`,
          reason: `got ${p.protocol} ${p.hostAddress}:${p.hostPort}, where a process on host ${t.target} already listens (${sock.addr}:${sock.port})`,
        });
    });
  }
  return failures;
}
