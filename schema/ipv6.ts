/** IPv6 addresses and prefixes as bigints: pure, so that checks run at preview without a host. */

/** "fd36::2" → its 128 bits; undefined when not an IPv6 address (no zone, no embedded IPv4). */
export function parseIPv6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(s) || s.length > 39) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return all.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952's form (lower case, the longest run of two or more zero groups as "::"), as the kernel and nft print it. */
export function formatIPv6(n: bigint): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > len && j - i >= 2) [best, len] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + len))}`;
}

export interface Subnet6 {
  base: bigint;
  bits: number;
  /** 2^(128 - bits) */
  size: bigint;
}

/** "fd36:1::/64" → its base and size; undefined when not an IPv6 prefix whose host bits are zero. */
export function parseSubnet6(s: string): Subnet6 | undefined {
  const m = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const base = parseIPv6(m[1]!);
  const bits = Number(m[2]);
  if (base === undefined || bits > 128) return undefined;
  const size = 1n << BigInt(128 - bits);
  if (base % size !== 0n) return undefined;
  return { base, bits, size };
}

/** Usable for a host: inside the prefix, not its first address (the subnet-router anycast). */
export const isHostAddress6 = (s: Subnet6, ip: bigint) => ip > s.base && ip < s.base + s.size;

export const overlaps6 = (a: Subnet6, b: Subnet6) => a.base < b.base + b.size && b.base < a.base + a.size;

/** The canonical form of an address ("FD36:0::02" → "fd36::2"), or the input when it is not one. */
export const canonical6 = (s: string) => {
  const n = parseIPv6(s);
  return n === undefined ? s : formatIPv6(n);
};
