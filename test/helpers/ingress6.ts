// Probes of declared ingress over IPv6, from inside containers (busybox's wget, ping and nc; `busybox wget` runs on a host too), however
// a test runs a script in one: the runtime's exec here, or over SSH on a lab guest.

/** Runs a shell script in the named container (or wherever the caller maps the name): exit status and output. */
export type InContainer = (name: string, script: string) => Promise<{ code: number; out: string }>;

/** The probes, each true when the flow passes: an HTTP server there answers `body` (within 2 s). */
export function ingressProbes(exec: InContainer, body = "ok") {
  const got = (r: { code: number; out: string }) => r.code === 0 && r.out.trim() === body;
  return {
    reaches6: async (from: string, address: string, port: number) => got(await exec(from, `timeout 2 busybox wget -q -O - http://[${address}]:${port}/`)),
    reaches4: async (from: string, address: string, port: number) => got(await exec(from, `timeout 2 busybox wget -q -O - http://${address}:${port}/`)),
    ping6: async (from: string, address: string) => (await exec(from, `ping -6 -c1 -W1 ${address}`)).code === 0,
    /** A link-local address, through `from`'s eth0 (a TCP connection with the scope in busybox's nc). */
    reachesLinkLocal: async (from: string, linkLocal: string, port: number) =>
      (await exec(from, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 2 nc ${linkLocal}%eth0 ${port}`)).out.includes(`\n${body}`),
  };
}

/** The packets of an `nft list counter` listing. */
export const counterPackets = (listing: string): number => Number(/packets (\d+)/.exec(listing)![1]);
