import type { Transport } from "../../transport/transport";
/** /etc/resolv.conf, /etc/hosts and /etc/hostname of a container, bind-mounted read-only from its bundle. */

export interface DnsSettings {
  nameservers?: string[];
  search: string[];
  options: string[];
}

/** The host's nameservers a container can reach: loopback ones (a local stub resolver) cannot be. */
export function hostNameservers(resolvConf: string): string[] {
  return resolvConf
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((ns): ns is string => ns !== undefined && !/^127\./.test(ns) && ns !== "::1");
}

export function resolvConf(dns: DnsSettings | undefined, hostResolvConf: string): string {
  const servers = dns?.nameservers ?? hostNameservers(hostResolvConf);
  return [
    "# written by kslice from the container's declaration",
    ...servers.map((s) => `nameserver ${s}`),
    ...(dns?.search.length ? [`search ${dns.search.join(" ")}`] : []),
    ...(dns?.options.length ? [`options ${dns.options.join(" ")}`] : []),
    "",
  ].join("\n");
}

/**
 * As Docker and podman write it: localhost, the container's name on each of its addresses (every
 * network's; 127.0.1.1 without a network, as Debian does), then the declared entries.
 */
export function hostsFile(hostname: string, addresses: string[], extra: Record<string, string>): string {
  return [
    "# written by kslice from the container's declaration",
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    ...(addresses.length ? addresses : ["127.0.1.1"]).map((address) => `${address}\t${hostname}`),
    ...Object.entries(extra).map(([name, addr]) => `${addr}\t${name}`),
    "",
  ].join("\n");
}

/** /etc/hostname: the name alone, as Docker writes it (`hostname` and programs read it at start). */
export const hostnameFile = (hostname: string) => `${hostname}\n`;

/** The host's /etc/resolv.conf ("" when it has none). */
export async function readHostResolvConf(t: Pick<Transport, "readFiles">): Promise<string> {
  const [text] = await t.readFiles(["/etc/resolv.conf"]);
  return text ?? "";
}
