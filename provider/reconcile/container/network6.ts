import { canonical6, isHostAddress6, parseIPv6, parseSubnet6 } from "../../../schema/ipv6";
import type { InputFailure } from "../../../schema/issues";
import type { NetworkSpec } from "../../kernel/network/bridge";
import type { ContainerArgs } from "../../../schema/container";
import { attachmentName } from "../../../schema/container-network";

/** A static IPv6 address against the host's record of its network: dual-stack, inside, free. */
export function admit6(
  address6: string | undefined,
  rec: NetworkSpec,
  i: number,
  name: string,
  owner: string | undefined,
  mine: (h: string | undefined) => boolean,
): InputFailure[] {
  if (address6 === undefined) return [];
  const property = `networks.${i}.address6`;
  if (!rec.subnet6) return [{ property, reason: `got ${JSON.stringify(address6)}, but network ${name} has no subnet6 (IPv4 only); leave address6 out` }];
  const ip = parseIPv6(address6)!;
  if (!isHostAddress6(parseSubnet6(rec.subnet6)!, ip) || canonical6(address6) === rec.gateway6)
    return [
      {
        property,
        reason: `got ${JSON.stringify(address6)}; expected a free host address in ${name}'s subnet6 ${rec.subnet6}, other than its gateway6 ${rec.gateway6}`,
      },
    ];
  if (owner !== undefined && !mine(owner))
    return [
      {
        property,
        reason: `got ${JSON.stringify(address6)}, already the IPv6 address of container ${owner} on network ${name}${rec.dynamicRange6 ? "" : "; give the network a dynamicRange6 that leaves static addresses out, so parallel creates cannot take them"}`,
      },
    ];
  return [];
}

/**
 * Ports published on an IPv6 host address to a network that has no subnet6, when the network is
 * named by its name (a ref is checked by the schema): nothing there to DNAT to.
 */
export function ports6OnIPv4Only(a: ContainerArgs, rec: NetworkSpec, name: string): InputFailure[] {
  if (rec.subnet6) return [];
  return a.ports.flatMap((p, j) =>
    p.hostAddress.includes(":") && (p.network ?? attachmentName(a.networks[0]!)) === name
      ? [
          {
            property: `ports.${j}.hostAddress`,
            reason: `got ${JSON.stringify(p.hostAddress)}, an IPv6 address, but network ${name} has no subnet6 (IPv4 only); publish on an IPv4 address, or on a dual-stack network`,
          },
        ]
      : [],
  );
}
