import type { ContainerArgs } from "../../../schema/container";
import { attachmentName } from "../../../schema/container-network";
import type { BundleFile } from "../../kernel/container/files";
import type { NetClaims } from "../../kernel/container/operations";
import type { ClaimsSnapshot } from "../../kernel/container/snapshot";
import { chooseRanges, maxRangeIndex, rangeBase } from "../../kernel/container/uid-ranges";
import { chooseAddress, chooseAddress6, v6Key, type AddressClaim } from "../../kernel/network/allocate";
import { canonical6 } from "../../../schema/ipv6";
import type { Ctx } from "./context";
import { etcFiles, hasNetworking, netFile, netPlan, networkRecords, type NetPlan } from "./network";

/** What a container's networking needs, decided from the host's snapshot: claims to make and files to write. */
export interface NetDecision {
  claims: NetClaims | undefined;
  files: BundleFile[];
  addresses: Map<string, string>;
  release: () => void;
}

/**
 * Chooses the container's addresses (the ones it holds, the declared ones, or the lowest free) and
 * writes what its networking needs: net.sh, resolv.conf, hosts. The host's script claims them
 * exclusively (allocate.ts); resolv.conf and hosts are rewritten in place, so a running container
 * sees a change at once (they are bind mounts).
 */
export async function decideNet(c: Ctx, a: ContainerArgs, snap: ClaimsSnapshot): Promise<NetDecision> {
  const releases: (() => void)[] = [];
  let plan: NetPlan = { atts: [], ports: [] };
  let claims: NetClaims | undefined;
  const addresses = new Map<string, string>();
  if (hasNetworking(a)) {
    let records = new Map(a.networks.map((n) => [attachmentName(n), snap.networks.get(attachmentName(n))]));
    // a Network made since the snapshot was read (it is shared for a moment): its record is read afresh
    if ([...records.values()].some((r) => !r)) records = await networkRecords(c.t, c.layout, a);
    const unknown = [...records].filter(([, r]) => !r).map(([n]) => n);
    if (unknown.length) throw new Error(`networks: network ${unknown.join(", ")} is not on the host (create its Network first)`);
    const held = snap.addresses.get(a.name);
    const addressClaims: AddressClaim[] = [];
    for (const n of a.networks) {
      const rec = records.get(attachmentName(n))!;
      const key = `${c.t.target}/${c.prefix}/network/${rec.name}`;
      // chosen by creates under way in this process, not yet claimed (those of other processes that race lose cleanly, and are retried)
      const taken = c.h.view.picked(key);
      for (const [owner, m] of snap.addresses) if (owner !== a.name && m.get(rec.name)) taken.add(m.get(rec.name)!);
      const address =
        n.address ??
        held?.get(rec.name) ??
        chooseAddress({ network: rec.name, subnet: rec.subnet, gateway: rec.gateway, dynamicRange: rec.dynamicRange }, taken);
      if (!address) {
        releases.forEach((r) => r());
        throw new Error(`networks: network ${rec.name} (${rec.dynamicRange ?? rec.subnet}) has no free address left`);
      }
      releases.push(c.h.view.pick(key, address));
      addresses.set(rec.name, address);
      addressClaims.push({ network: rec.name, address, declared: n.address !== undefined, dynamicRange: rec.dynamicRange });
      if (!rec.subnet6) continue;
      // a dual-stack network: an IPv6 address too, chosen and claimed the same way
      const key6 = v6Key(key);
      const taken6 = c.h.view.picked(key6);
      for (const [owner, m] of snap.addresses) if (owner !== a.name && m.get(v6Key(rec.name))) taken6.add(m.get(v6Key(rec.name))!);
      const address6 =
        (n.address6 && canonical6(n.address6)) ?? held?.get(v6Key(rec.name)) ?? chooseAddress6(rec.subnet6, rec.gateway6!, taken6, rec.dynamicRange6);
      if (!address6) {
        releases.forEach((r) => r());
        throw new Error(`networks: network ${rec.name} (${rec.dynamicRange6 ?? rec.subnet6}) has no free IPv6 address left`);
      }
      releases.push(c.h.view.pick(key6, address6));
      addresses.set(v6Key(rec.name), address6);
      addressClaims.push({ network: rec.name, address: address6, family: 6, declared: n.address6 !== undefined, dynamicRange: rec.dynamicRange6 });
    }
    claims = { ports: a.ports, addresses: addressClaims };
    plan = netPlan(a.host.prefix, a, records, addresses, snap);
  }
  // the host's resolv.conf only when the declaration names no nameservers (once per host read)
  const hostResolv = a.dns?.nameservers
    ? ""
    : await c.h.view.resolvConf(snap).catch((e: unknown) => {
        releases.forEach((r) => r());
        throw e;
      });
  const etc = etcFiles(a, plan, hostResolv);
  const files: BundleFile[] = [
    netFile(a.host.prefix, c.layout, a, plan),
    // bind-mounted into the container: rewritten in place, so that it sees the change
    { path: `${c.bundle}/resolv.conf`, content: etc.resolv, mode: "644", inPlace: true },
    { path: `${c.bundle}/hosts`, content: etc.hosts, mode: "644", inPlace: true },
    { path: `${c.bundle}/hostname`, content: etc.hostname, mode: "644", inPlace: true },
  ];
  return { claims, files, addresses, release: () => releases.forEach((r) => r()) };
}

/** The user-namespace range a new container takes: the one it holds, else the lowest free one (claimed by the create's script). */
export function decideRange(c: Ctx, a: ContainerArgs, snap: ClaimsSnapshot): { base: number; index: number; release: () => void } | undefined {
  if (!a.security.userNamespace) return undefined;
  const held = snap.ranges.get(a.name);
  if (held !== undefined) return { base: rangeBase(held), index: held, release: () => undefined };
  const key = `${c.t.target}/uid-ranges`;
  const [index] = chooseRanges([...snap.takenRanges, ...[...c.h.view.picked(key)].map(Number)], undefined, 1);
  if (index === undefined) throw new Error(`security.userNamespace: host ${c.t.target} has no user-namespace range left (${maxRangeIndex + 1} claimed)`);
  return { base: rangeBase(index), index, release: c.h.view.pick(key, String(index)) };
}
