import { z } from "zod";
import { show } from "./issues";
import { formatIPv4, isHostAddress, parseIPv4, parseSubnet } from "./ipv4";
import { hostAddress, ingressRules, ipv4, ipv6, networkName, networkRef } from "./network";
import { canonical6, formatIPv6, isHostAddress6, parseIPv6, parseSubnet6 } from "./ipv6";
import { rate } from "./units";

/** A container's place on one network. */
export const networkAttachment = z.strictObject({
  /** The Network's `ref` (known at preview) or the name of a network already on the host. */
  network: z.union([networkName, networkRef]),
  /** A static address inside the subnet. @default the lowest free one, kept on the host while the container exists */
  address: ipv4.optional(),
  /** A static IPv6 address inside a dual-stack network's subnet6. @default the lowest free one, kept on the host while the container exists */
  address6: ipv6.optional(),
  /** Traffic shaping on this interface (tc token bucket), OpenVZ-style. @default none */
  bandwidth: z
    .strictObject({
      /** Traffic into the container. */
      ingress: rate.optional(),
      /** Traffic out of the container. */
      egress: rate.optional(),
    })
    .optional(),
  /**
   * Anti-spoofing: frames leave this interface only from the container's own MAC, IPv4 only from
   * its own address, ARP only naming both, IPv6 (on a dual-stack network) only from its own IPv6
   * address and neighbour advertisements only for it; no router advertisements, DHCP or DHCPv6
   * server replies. false lets
   * the container send from any source, as a router or VPN gateway must. @default true
   */
  antiSpoofing: z.boolean().optional(),
});

const port = z.number().int("expected a whole port number").min(1, "expected a port from 1 to 65535").max(65535, "expected a port from 1 to 65535");

/** A host address and port forwarded (DNAT) to the container. */
export const publishedPort = z.strictObject({
  hostPort: port,
  /** @default hostPort */
  containerPort: port.optional(),
  /** @default "tcp" */
  protocol: z.enum(["tcp", "udp"]).default("tcp"),
  /**
   * The host address it answers on: "0.0.0.0" means every address of the host (IPv6 ones too when
   * the port's network is dual-stack); an IPv6 address needs a dual-stack network. @default "0.0.0.0"
   */
  hostAddress: hostAddress.default("0.0.0.0"),
  /** Which of the container's networks receives it. @default the first */
  network: networkName.optional(),
});

const hostName = z.string().regex(/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/, "expected a host name");

export const dns = z.strictObject({
  /** @default the host's own nameservers, except loopback ones (unreachable from a container) */
  nameservers: z.array(ipv4).max(3, "the resolver reads at most 3 nameservers").optional(),
  search: z.array(hostName).default([]),
  options: z.array(z.string().regex(/^[a-z][a-z0-9-]*(:\d+)?$/, 'expected a resolver option like "ndots:2"')).default([]),
});

export const networkFields = {
  /** Networks the container joins, in order: eth0, eth1, … @default none (loopback only) */
  networks: z.array(networkAttachment).max(8, "at most 8 networks per container").default([]),
  ports: z.array(publishedPort).default([]),
  /** /etc/resolv.conf. @default the host's nameservers when the container has networks */
  dns: dns.optional(),
  /** Extra /etc/hosts entries: name → address. @default none */
  hosts: z.record(hostName, z.union([ipv4, ipv6])).default({}),
  /**
   * Who may reach the container (ARCHITECTURE.md, "Ingress rules"): a list of sources (cidr,
   * container or network), protocol and ports. Given, everything else arriving on its networks is
   * dropped and counted, except replies to its own connections and its published ports; `[]` lets
   * nothing else in. @default each network's own `ingress`, else no filtering
   */
  ingress: ingressRules.optional(),
};

type Attachment = z.output<typeof networkAttachment>;
type Port = z.output<typeof publishedPort>;

export const attachmentName = (a: Attachment) => (typeof a.network === "string" ? a.network : a.network.name);

/** Checks between fields: addresses inside known subnets, ports unique and on a joined network. */
export function checkNetworkFields(a: { networks: Attachment[]; ports: Port[] }, ctx: z.RefinementCtx): void {
  const names = a.networks.map(attachmentName);
  a.networks.forEach((n, i) => {
    if (names.indexOf(names[i]!) !== i)
      ctx.addIssue({
        code: "custom",
        path: ["networks", i, "network"],
        message: `got ${show(names[i])} twice; a container joins a network once`,
        input: names[i],
      });
    if (typeof n.network === "string") return;
    checkAddress6(n.network, n.address6, i, ctx);
    if (n.address === undefined) return;
    const s = parseSubnet(n.network.subnet)!;
    const ip = parseIPv4(n.address)!;
    if (!isHostAddress(s, ip)) {
      ctx.addIssue({
        code: "custom",
        path: ["networks", i, "address"],
        message: `got ${show(n.address)}; expected an address inside ${n.network.name}'s subnet ${n.network.subnet} (${formatIPv4(s.base + 1)} to ${formatIPv4(s.base + s.size - 2)})`,
        input: n.address,
      });
    } else if (n.address === n.network.gateway) {
      ctx.addIssue({
        code: "custom",
        path: ["networks", i, "address"],
        message: `got ${show(n.address)}, which is ${n.network.name}'s gateway (the host's address on the bridge); expected another address in ${n.network.subnet}`,
        input: n.address,
      });
    }
  });
  const seen = new Map<string, number>();
  a.ports.forEach((p, i) => {
    if (!names.length) {
      ctx.addIssue({ code: "custom", path: ["ports", i], message: "a published port needs the container on a network; add one to networks", input: p });
      return;
    }
    // an IPv6 host address is DNATed to the container's IPv6 address: its network must be dual-stack
    const net = a.networks[p.network === undefined ? 0 : names.indexOf(p.network)]?.network;
    if (p.hostAddress.includes(":") && net !== undefined && typeof net !== "string" && !net.subnet6)
      ctx.addIssue({
        code: "custom",
        path: ["ports", i, "hostAddress"],
        message: `got ${show(p.hostAddress)}, an IPv6 address, but network ${net.name} has no subnet6 (IPv4 only); publish on an IPv4 address, or on a dual-stack network`,
        input: p.hostAddress,
      });
    if (p.network !== undefined && !names.includes(p.network)) {
      ctx.addIssue({
        code: "custom",
        path: ["ports", i, "network"],
        message: `got ${show(p.network)}; expected one of the container's networks: ${names.map((n) => show(n)).join(", ")}`,
        input: p.network,
      });
    }
    const key = portKey(p);
    const clash = [...seen.entries()].find(([k]) => portsClash(k, key));
    if (clash)
      ctx.addIssue({
        code: "custom",
        path: ["ports", i, "hostPort"],
        message: `got ${p.protocol} ${p.hostAddress}:${p.hostPort}, already published by ports[${clash[1]}]`,
        input: p.hostPort,
      });
    seen.set(key, i);
  });
}

/** A static IPv6 address against the network's ref: the network must be dual-stack and hold it. */
function checkAddress6(net: { name: string; subnet6?: string; gateway6?: string }, address6: string | undefined, i: number, ctx: z.RefinementCtx): void {
  if (address6 === undefined) return;
  const issue = (message: string) => ctx.addIssue({ code: "custom", path: ["networks", i, "address6"], message, input: address6 });
  const s = net.subnet6 === undefined ? undefined : parseSubnet6(net.subnet6);
  if (!s) return issue(`got ${show(address6)}, but network ${net.name} has no subnet6 (IPv4 only); declare one on the Network, or leave address6 out`);
  const ip = parseIPv6(address6)!;
  if (!isHostAddress6(s, ip))
    issue(
      `got ${show(address6)}; expected an address inside ${net.name}'s subnet6 ${net.subnet6} (${formatIPv6(s.base + 1n)} to ${formatIPv6(s.base + s.size - 1n)})`,
    );
  else if (net.gateway6 !== undefined && parseIPv6(net.gateway6) === ip)
    issue(`got ${show(address6)}, which is ${net.name}'s IPv6 gateway (the host's address on the bridge); expected another address in ${net.subnet6}`);
}

/** "tcp/0.0.0.0/8080", "tcp/fd00::10/8080": what a published port claims on the host (an IPv6 address in canonical form). */
export const portKey = (p: { protocol: string; hostAddress: string; hostPort: number }) => `${p.protocol}/${canonical6(p.hostAddress)}/${p.hostPort}`;

/** Two claims clash on the same protocol and port when either is every address or both are the same one. */
export function portsClash(a: string, b: string): boolean {
  const [pa, aa, na] = a.split("/");
  const [pb, ab, nb] = b.split("/");
  return pa === pb && na === nb && (aa === ab || aa === "0.0.0.0" || ab === "0.0.0.0");
}
