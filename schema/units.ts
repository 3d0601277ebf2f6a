import { z } from "zod";
import { show } from "./issues";

/** Binary and decimal size suffixes; "256Mi" is 256·2^20 bytes, "1G" is 10^9 (Kubernetes' notation). */
const sizeUnits: Record<string, number> = {
  "": 1,
  B: 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Parses "256Mi", "1.5Gi", "1048576" or a number of bytes; undefined when not a size. */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?|B)?\s*$/.exec(v);
  if (!m) return undefined;
  const bytes = Number(m[1]) * sizeUnits[m[2] ?? ""]!;
  return Number.isSafeInteger(Math.round(bytes)) ? Math.round(bytes) : undefined;
}

/** The shortest exact binary notation of a byte count: 268435456 → "256Mi". */
export function formatSize(bytes: number): string {
  for (const u of ["Ti", "Gi", "Mi", "Ki"]) {
    const n = bytes / sizeUnits[u]!;
    if (bytes > 0 && Number.isInteger(n)) return `${n}${u}`;
  }
  return String(bytes);
}

/** A size for people, rounded to one decimal in the largest binary unit that fits: "12.3 GiB". */
export function readableSize(bytes: number): string {
  for (const u of ["Ti", "Gi", "Mi", "Ki"]) {
    if (Math.abs(bytes) >= sizeUnits[u]!) return `${(bytes / sizeUnits[u]!).toFixed(1)} ${u}B`;
  }
  return `${bytes} bytes`;
}

/** A size in bytes, written as "256Mi", "1G" or a number. */
export const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `got ${show(v)}, which is not a size; expected e.g. "256Mi", "1.5Gi" or a number of bytes`, input: v });
    return z.NEVER;
  }
  return bytes;
});

/** A size or "max" (no limit, the kernel's own word). */
export const sizeOrMax = z.union([z.literal("max"), size]);

/** A cpuset list as the kernel writes it: "0-3,6". */
export const cpuList = z.string().regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, 'expected a CPU or memory-node list like "0-1,3"');

/** Expands "0-2,5" into [0,1,2,5]. */
export function expandList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(",").filter(Boolean)) {
    const [a, b] = part.split("-").map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.push(i);
  }
  return out;
}

const rateUnits: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** Parses "10mbit", "1.5Gbit" or a number of bits per second (tc's notation, decimal units). */
export function parseRate(v: string | number): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)\s*$/i.exec(v);
  if (!m) return undefined;
  const bits = Math.round(Number(m[1]) * rateUnits[m[2]!.toLowerCase()]!);
  return bits > 0 && Number.isSafeInteger(bits) ? bits : undefined;
}

/** A rate in bits per second, at least 8 kbit/s (below that tc's token bucket cannot shape). */
export const rate = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bits = parseRate(v);
  if (bits === undefined || bits < 8000) {
    ctx.addIssue({
      code: "custom",
      message: `got ${show(v)}; expected a rate of at least 8kbit, like "10mbit", "1gbit" or a number of bits per second`,
      input: v,
    });
    return z.NEVER;
  }
  return bits;
});
