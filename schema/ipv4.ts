/** IPv4 addresses and subnets as numbers: pure, so that checks run at preview without a host. */

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || String(p) !== m[i + 1])) return undefined;
  return parts.reduce((a, p) => a * 256 + p, 0);
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

export interface Subnet {
  /** The network address as a number. */
  base: number;
  bits: number;
  /** How many addresses the subnet holds (network and broadcast included). */
  size: number;
}

/** "10.88.1.0/24" → its base and size; undefined when not a CIDR whose host bits are zero. */
export function parseSubnet(s: string): Subnet | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const base = parseIPv4(m[1]!);
  const bits = Number(m[2]);
  if (base === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  if (base % size !== 0) return undefined;
  return { base, bits, size };
}

/** Usable for a host: inside the subnet, neither its network nor its broadcast address. */
export function isHostAddress(s: Subnet, ip: number): boolean {
  return ip > s.base && ip < s.base + s.size - 1;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}
