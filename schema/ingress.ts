import { z } from "zod";
import { show } from "./issues";
import { formatIPv4, parseSubnet } from "./ipv4";
import { formatIPv6, parseSubnet6 } from "./ipv6";
import { cgroupName } from "./resource-limits";

/** A CIDR with zero host bits ("10.0.0.0/8", "0.0.0.0/0", "fd00::/8", "::/0"), or one address (a /32 or /128). */
const cidr = z.string().superRefine((v, ctx) => {
  if (!parseCidr(v))
    ctx.addIssue({
      code: "custom",
      message: `got ${show(v)}; expected an IPv4 or IPv6 address, or a CIDR with zero host bits, like "10.88.0.0/16" or "fd00:88::/64"`,
      input: v,
    });
});

/** An IPv4 or IPv6 address or CIDR in its canonical form ("FD00:0::/8" → "fd00::/8", "10.0.0.1" → "10.0.0.1/32"), and its family; undefined when invalid. */
export function parseCidr(v: string): { cidr: string; v6: boolean } | undefined {
  if (v.includes(":")) {
    const s = parseSubnet6(v.includes("/") ? v : `${v}/128`);
    return s ? { cidr: `${formatIPv6(s.base)}/${s.bits}`, v6: true } : undefined;
  }
  const s = parseSubnet(v.includes("/") ? v : `${v}/32`);
  return s ? { cidr: `${formatIPv4(s.base)}/${s.bits}`, v6: false } : undefined;
}

/** 8080 or "8000-8099". */
const portRange = z.union([z.number(), z.string()]).superRefine((v, ctx) => {
  const r = parsePortRange(v);
  if (!r) ctx.addIssue({ code: "custom", message: `got ${show(v)}; expected a port from 1 to 65535 or a range like "8000-8099"`, input: v });
});

/** A port or range as [low, high]; undefined when invalid. */
export function parsePortRange(v: number | string): [number, number] | undefined {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof v === "number") return ok(v) ? [v, v] : undefined;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
  if (!m) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return ok(lo) && ok(hi) && lo <= hi ? [lo, hi] : undefined;
}

/** What a rule's `network` source takes: a Network's name or its ref (network.ts passes its schemas, which import this file). */
type NetworkSource = z.ZodType<string | { name: string; subnet: string; subnet6?: string }>;

/**
 * The ingress schemas, given network.ts's schema of a network reference (a function: network.ts
 * imports this file, so it cannot be imported from here).
 */
export function ingressSchemas(network: NetworkSource) {
  /** Where allowed traffic may come from: exactly one of cidr, container, network. */
  const ingressSource = z
    .strictObject({
      /** An IPv4 or IPv6 address or CIDR ("0.0.0.0/0": anywhere over IPv4, "::/0" over IPv6). */
      cidr: cidr.optional(),
      /** A container of this host and prefix (its addresses, IPv4 and IPv6, on every network it joins). Pass the other Container's `name` output, so it exists first. */
      container: cgroupName.optional(),
      /** A Network (its ref or its name): its whole subnet, and its subnet6 when it is dual-stack. */
      network: network.optional(),
    })
    .superRefine((s, ctx) => {
      const n = [s.cidr, s.container, s.network].filter((x) => x !== undefined).length;
      if (n !== 1) ctx.addIssue({ code: "custom", message: `got ${show(s)}; expected exactly one of cidr, container or network`, input: s });
    });

  /** One ingress rule: these sources may open connections to these ports. */
  const ingressRule = z
    .strictObject({
      from: z.array(ingressSource).min(1, "expected at least one source"),
      /** "icmp" takes no ports. @default "tcp" */
      protocol: z.enum(["tcp", "udp", "icmp"]).default("tcp"),
      /** Ports or ranges on the container. @default every port */
      ports: z.array(portRange).min(1, "expected at least one port; leave ports out for every port").optional(),
    })
    .superRefine((r, ctx) => {
      if (r.protocol === "icmp" && r.ports)
        ctx.addIssue({ code: "custom", path: ["ports"], message: `got ${show(r.ports)}; ICMP has no ports (leave ports out)`, input: r.ports });
    });

  /**
   * Declared ingress: when given, only these flows reach the container (replies to its own
   * connections and its published ports always do); everything else is dropped and counted.
   * @default none (no filtering: open within the network, as `isolated` allows)
   */
  const ingressRules = z.array(ingressRule);

  return { ingressSource, ingressRule, ingressRules };
}

export type IngressRules = z.output<ReturnType<typeof ingressSchemas>["ingressRules"]>;
export type IngressRule = IngressRules[number];
export type IngressSource = IngressRule["from"][number];

/** One allowed flow resolved to the kernel's terms: source CIDR, protocol and port range. */
export interface Allowed {
  source: string;
  protocol: "tcp" | "udp" | "icmp";
  ports: string;
}

/**
 * The rules as flows, sources resolved: a container to its addresses (IPv6 ones included), a
 * network to its subnet (and subnet6). `containerAddresses`/`networkSubnets` return undefined for
 * what does not exist, which the caller reports at check (ingressFailures); here it is left out.
 * A source's family says which of a container's addresses it lets in (ingress.ts).
 */
export function resolveIngress(
  rules: IngressRule[],
  containerAddresses: (name: string) => string[] | undefined,
  networkSubnets: (name: string) => string[] | undefined,
): Allowed[] {
  const out = new Map<string, Allowed>();
  for (const r of rules) {
    const ranges =
      r.protocol === "icmp" || !r.ports ? ["0-65535"] : r.ports.map((p) => parsePortRange(p)!).map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`));
    for (const s of r.from) {
      const sources =
        s.cidr !== undefined
          ? [parseCidr(s.cidr)!.cidr]
          : s.container !== undefined
            ? (containerAddresses(s.container) ?? []).map((a) => parseCidr(a)!.cidr)
            : typeof s.network === "string"
              ? (networkSubnets(s.network) ?? [])
              : [s.network!.subnet, ...(s.network!.subnet6 ? [s.network!.subnet6] : [])];
      for (const source of sources) for (const ports of ranges) out.set(`${source} ${r.protocol} ${ports}`, { source, protocol: r.protocol, ports });
    }
  }
  return [...out.values()];
}

/** Sources naming a container or network that does not exist, as check failures of `property` (e.g. "ingress"). */
export function ingressFailures(
  property: string,
  rules: IngressRule[],
  containerExists: (name: string) => boolean,
  networkExists: (name: string) => boolean,
  where: string,
): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  rules.forEach((r, i) =>
    r.from.forEach((s, j) => {
      if (s.container !== undefined && !containerExists(s.container)) {
        failures.push({
          property: `${property}.${i}.from.${j}.container`,
          reason: `got ${show(s.container)}; no container of that name with an address on a network ${where} (expected an existing container: pass the other Container's name output so it is created first)`,
        });
      }
      if (typeof s.network === "string" && !networkExists(s.network)) {
        failures.push({
          property: `${property}.${i}.from.${j}.network`,
          reason: `got ${show(s.network)}; no such network ${where} (create a Network of that name, or pass the Network's ref)`,
        });
      }
    }),
  );
  return failures;
}

/**
 * IPv6 CIDR sources where nothing has an IPv6 address (an IPv4-only Network, a container on IPv4-only
 * networks): such a rule could never let anything in, so it is refused at check. `why` says why.
 */
export function ipv6SourceFailures(property: string, rules: IngressRule[], why: string): { property: string; reason: string }[] {
  return rules.flatMap((r, i) =>
    r.from.flatMap((s, j) =>
      s.cidr !== undefined && parseCidr(s.cidr)?.v6
        ? [
            {
              property: `${property}.${i}.from.${j}.cidr`,
              reason: `got ${show(s.cidr)}, an IPv6 source, but ${why}; expected an IPv4 address or CIDR, or a subnet6 on the Network`,
            },
          ]
        : [],
    ),
  );
}
