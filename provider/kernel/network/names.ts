import { formatIPv6 } from "../../../schema/ipv6";
import { createHash } from "node:crypto";

const hex = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);

export { defaultBridge } from "../../../schema/network";

/** Host end of a container's veth on its i-th network; the container's end is eth<i>. */
export function vethName(prefix: string, container: string, index: number, network: string): string {
  return `ks${hex(`${prefix}/${container}/${index}/${network}`, 11)}`;
}

export const bridgeAlias = (prefix: string, network: string) => `${prefix}/network/${network}`;
/** Every veth of a container has an alias starting with this. */
export const vethAliasPrefix = (prefix: string, container: string) => `${prefix}/container/${container}/`;
export const vethAlias = (prefix: string, container: string, network: string) => `${vethAliasPrefix(prefix, container)}${network}`;

/** nftables table (family ip) holding every rule of a prefix. */
export const nftTable = (prefix: string) => prefix;
/** Owner tags in rule comments: a network's rules and a container's published ports. */
export const networkOwner = (network: string) => `n:${network}`;
export const containerOwner = (container: string) => `c:${container}`;

/** A stable MAC from the address (as Docker does), so neighbours' ARP caches stay right on reuse. */
export function macFor(address: number): string {
  const b = [24, 16, 8, 0].map((s) => (Math.floor(address / 2 ** s) % 256).toString(16).padStart(2, "0"));
  return `02:42:${b.join(":")}`;
}

/**
 * The link-local address a MAC gives (fe80::/64 and the modified EUI-64, RFC 4291), canonical.
 * A dual-stack container's interface gets this one alone, set without duplicate detection.
 */
export function linkLocalFor(mac: string): string {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  const eui = [b[0]! ^ 2, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  return formatIPv6((0xfe80n << 112n) | eui.reduce((a, x) => (a << 8n) | BigInt(x), 0n));
}
