import { z } from "zod";
import { show } from "./issues";
import { formatIPv4, isHostAddress, parseIPv4, parseSubnet } from "./ipv4";
import { hostRef } from "./resource-limits";
import { ingressSchemas } from "./ingress";
import { formatIPv6, isHostAddress6, parseIPv6, parseSubnet6 } from "./ipv6";

/** A network's name: it names files on the host and nftables comments. */
export const networkName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'expected lower-case letters, digits, "_" or "-", at most 32 characters');

/** A string schema whose failure message shows the value: zod's refine takes no message function. */
const checked = (ok: (v: string) => boolean, message: (v: string) => string) =>
  z.string().superRefine((v, ctx) => {
    if (!ok(v)) ctx.addIssue({ code: "custom", message: message(v), input: v });
  });

/** IFNAMSIZ is 16 with the terminating zero: the kernel refuses longer interface names. */
export const bridgeName = checked(
  (v) => v.length <= 15 && /^ks[a-zA-Z0-9_.-]*$/.test(v),
  (v) =>
    v.length > 15
      ? `got ${show(v)} (${v.length} characters); the kernel allows at most 15 in an interface name`
      : `got ${show(v)}; expected a name starting with "ks" (kslice's interfaces all do, so that leftovers can be found) and made of letters, digits, "_", "." or "-"`,
);

export const ipv4 = checked(
  (v) => parseIPv4(v) !== undefined,
  (v) => `got ${show(v)}; expected an IPv4 address like "10.88.1.5"`,
);

export const subnet = checked(
  (v) => {
    const s = parseSubnet(v);
    return s !== undefined && s.bits >= 8 && s.bits <= 30;
  },
  (v) =>
    parseSubnet(v)
      ? `got ${show(v)}; expected a prefix length from /8 to /30 (room for a gateway and a container)`
      : `got ${show(v)}; expected an IPv4 subnet with zero host bits, like "10.88.1.0/24"`,
);

export const ipv6 = checked(
  (v) => parseIPv6(v) !== undefined,
  (v) => `got ${show(v)}; expected an IPv6 address like "fd36:1::5"`,
);

/**
 * A published port's host address: "0.0.0.0" (every address), an IPv4 address, or an IPv6 one
 * (not "::" nor "::1": the kernel never routes IPv6 loopback to another interface, and every
 * address is "0.0.0.0", which a dual-stack network's port answers on over IPv6 too).
 */
export const hostAddress = z.string().superRefine((v, ctx) => {
  const six = parseIPv6(v);
  const message =
    six === 1n
      ? `got ${show(v)}; the kernel never routes IPv6 loopback to a container: publish to "127.0.0.1" for the host's loopback`
      : six === 0n
        ? `got ${show(v)}; for every address give "0.0.0.0" (on a dual-stack network the port answers on IPv6 too)`
        : parseIPv4(v) === undefined && six === undefined
          ? `got ${show(v)}; expected an IPv4 or IPv6 address of the host, like "192.0.2.10" or "fd00::10", or "0.0.0.0" for every address`
          : undefined;
  if (message) ctx.addIssue({ code: "custom", message, input: v });
});

/** /64 (SLAAC's size, what most operators hand out) to /120 (room for a gateway and a few containers). */
export const subnet6 = checked(
  (v) => {
    const s = parseSubnet6(v);
    return s !== undefined && s.bits >= 64 && s.bits <= 120;
  },
  (v) =>
    parseSubnet6(v)
      ? `got ${show(v)}; expected a prefix length from /64 to /120`
      : `got ${show(v)}; expected an IPv6 prefix with zero host bits, like "fd36:1::/64"`,
);

/** An IPv6 prefix with zero host bits, of any length (a dynamicRange6: its place in the subnet6 is checked with the network). */
export const range6 = checked(
  (v) => parseSubnet6(v) !== undefined,
  (v) => `got ${show(v)}; expected an IPv6 prefix with zero host bits, like "fd36:1::100/120"`,
);

export const networkArgs = z
  .strictObject({
    host: hostRef,
    /** @default the resource's name */
    name: networkName,
    /** IPv4 subnet of the bridge, "10.88.1.0/24". */
    subnet,
    /** The host's address on the bridge and the containers' default route. @default the subnet's first address */
    gateway: ipv4.optional(),
    /** IPv6 prefix of the bridge, "fd36:1::/64" (/64 to /120): the network is dual-stack, each container gets an IPv6 address too. @default none (IPv4 only) */
    subnet6: subnet6.optional(),
    /** The host's IPv6 address on the bridge and the containers' IPv6 default route. @default the prefix's first host address ("…::1") */
    gateway6: ipv6.optional(),
    /** The Linux bridge's name (at most 15 characters, starting with "ks"). @default "ks-" and the network's name, or a hash when too long */
    bridge: bridgeName.optional(),
    /**
     * Where allocated addresses come from (Docker's --ip-range): a CIDR inside the subnet. Static
     * addresses outside it can never be taken by a container created in parallel. @default the whole subnet
     */
    dynamicRange: subnet.optional(),
    /**
     * Where allocated IPv6 addresses come from, as dynamicRange for IPv4: a prefix inside the
     * subnet6, not holding the gateway6. Static address6 values outside it can never be taken by a
     * container created in parallel. @default the whole subnet6
     */
    dynamicRange6: range6.optional(),
    /** Masquerade the containers' outbound traffic behind the host's addresses (nftables). @default false */
    nat: z.boolean().default(false),
    /** Drop traffic between this network and kslice's other networks on the host. @default true */
    isolated: z.boolean().default(true),
    /** Take over a network of this name that another owner (stack or resource) made. @default false */
    adopt: z.boolean().default(false),
    /** The `ingress` of its containers that declare none (a container's own replaces it). @default none */
    ingress: z.lazy(() => ingressRules).optional(),
  })
  .superRefine((a, ctx) => {
    const s = parseSubnet(a.subnet);
    const r = a.dynamicRange === undefined ? undefined : parseSubnet(a.dynamicRange);
    if (s && r && (r.base < s.base || r.base + r.size > s.base + s.size)) {
      ctx.addIssue({
        code: "custom",
        path: ["dynamicRange"],
        message: `got ${show(a.dynamicRange)}; expected a range inside the subnet ${a.subnet}`,
        input: a.dynamicRange,
      });
    }
    if (a.gateway6 !== undefined && a.subnet6 === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["gateway6"],
        message: `got ${show(a.gateway6)} without a subnet6; declare the network's IPv6 prefix too`,
        input: a.gateway6,
      });
    }
    const s6 = a.subnet6 === undefined ? undefined : parseSubnet6(a.subnet6);
    const g6 = a.gateway6 === undefined ? undefined : parseIPv6(a.gateway6);
    const r6 = a.dynamicRange6 === undefined ? undefined : parseSubnet6(a.dynamicRange6);
    if (r6 && a.subnet6 === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["dynamicRange6"],
        message: `got ${show(a.dynamicRange6)} without a subnet6; declare the network's IPv6 prefix too`,
        input: a.dynamicRange6,
      });
    } else if (r6 && s6 && (r6.base < s6.base || r6.base + r6.size > s6.base + s6.size)) {
      ctx.addIssue({
        code: "custom",
        path: ["dynamicRange6"],
        message: `got ${show(a.dynamicRange6)}; expected a range inside the subnet6 ${a.subnet6}`,
        input: a.dynamicRange6,
      });
    } else if (r6 && s6) {
      // the gateway6 as declared, else its default (the prefix's first host address)
      const gw = g6 ?? s6.base + 1n;
      if (gw >= r6.base && gw < r6.base + r6.size)
        ctx.addIssue({
          code: "custom",
          path: ["dynamicRange6"],
          message: `got ${show(a.dynamicRange6)}, which holds the gateway6 ${formatIPv6(gw)}; expected a range inside ${a.subnet6} without it, like "${formatIPv6(s6.base + (s6.size >> 1n))}/${s6.bits + 1}"`,
          input: a.dynamicRange6,
        });
    }
    if (s6 && g6 !== undefined && !isHostAddress6(s6, g6)) {
      ctx.addIssue({
        code: "custom",
        path: ["gateway6"],
        message: `got ${show(a.gateway6)}; expected a host address inside ${a.subnet6} (${formatIPv6(s6.base + 1n)} to ${formatIPv6(s6.base + s6.size - 1n)})`,
        input: a.gateway6,
      });
    }
    if (!s || a.gateway === undefined) return;
    const gw = parseIPv4(a.gateway)!;
    if (!isHostAddress(s, gw)) {
      ctx.addIssue({
        code: "custom",
        path: ["gateway"],
        message: `got ${show(a.gateway)}; expected a host address inside ${a.subnet} (${formatIPv4(s.base + 1)} to ${formatIPv4(s.base + s.size - 2)})`,
        input: a.gateway,
      });
    }
  });

export type NetworkArgs = z.output<typeof networkArgs>;

/** What a container needs to know of a network, carried by the Network's `ref` (known at preview). */
export const networkRef = z.strictObject({
  name: networkName,
  subnet,
  gateway: ipv4,
  bridge: bridgeName,
  subnet6: subnet6.optional(),
  gateway6: ipv6.optional(),
});
export type NetworkRef = z.output<typeof networkRef>;

/** FNV-1a, 32 bits: a stable short digest without node:crypto (schema stays importable anywhere). */
function fnv(s: string, seed: number): string {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/**
 * Interface names hold 15 characters, too few for a prefix and a name: kslice's start with "ks"
 * (ARCHITECTURE.md, "Naming rules") and carry an alias "<prefix>/…" naming their owner. The default prefix gets a
 * readable "ks-<network>"; other prefixes (test runs) a digest, so that two prefixes never clash.
 */
export function defaultBridge(prefix: string, network: string): string {
  const readable = `ks-${network}`;
  return prefix === "kslice" && readable.length <= 15 ? readable : `ks${(fnv(`${prefix}/${network}`, 2166136261) + fnv(network, 33554467)).slice(0, 11)}`;
}

/** The gateway a network gets by default: its subnet's first address. */
export function defaultGateway(subnetCidr: string): string {
  const s = parseSubnet(subnetCidr);
  return s ? formatIPv4(s.base + 1) : ""; // an invalid subnet is reported by the Network's check
}

/** The IPv6 gateway a dual-stack network gets by default: its prefix's first host address. */
export function defaultGateway6(subnet6Cidr: string): string {
  const s = parseSubnet6(subnet6Cidr);
  return s ? formatIPv6(s.base + 1n) : "";
}

/** Declared ingress rules (schema/ingress.ts), with this file's network reference. */
export const { ingressRules } = ingressSchemas(z.union([networkName, networkRef]));
