// Every v1 <-> v2 conversion lives here, each with its formula (ARCHITECTURE.md, "cgroup v1 and v2").

/** The v1 memory counters' "unlimited": PAGE_COUNTER_MAX * PAGE_SIZE (9223372036854771712 on x86_64). */
export const v1Unlimited = 2n ** 62n;

/**
 * cpu.weight (1..10000, default 100) -> cpu.shares (2..262144, default 1024).
 * Inverse of runc's ConvertCPUSharesToCgroupV2Value, weight = 1 + (shares-2)*9999/262142,
 * rounded up so that the forward formula gives the weight back.
 */
export function weightToShares(weight: number): number {
  return 2 + Math.ceil(((weight - 1) * 262142) / 9999);
}

/** cpu.shares -> cpu.weight, runc's formula: 1 + (shares-2)*9999/262142 (integer division). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * io.weight (1..10000) -> blkio.weight (10..1000). Inverse of runc's
 * ConvertBlkIOToIOWeightValue, io = 1 + (blkio-10)*9999/990, rounded up.
 */
export function ioWeightToBlkio(weight: number): number {
  return 10 + Math.ceil(((weight - 1) * 990) / 9999);
}

export function blkioToIoWeight(blkio: number): number {
  return 1 + Math.floor(((blkio - 10) * 9999) / 990);
}

/** cpu.max in cores -> quota in µs per period: quota = round(cores * period). */
export function coresToQuota(cores: number, periodUs: number): number {
  return Math.round(cores * periodUs);
}

export function quotaToCores(quotaUs: number, periodUs: number): number {
  return Math.round((quotaUs / periodUs) * 1000) / 1000;
}

/**
 * v1 limits memory and memory+swap together: memsw = memory.max + swap.max.
 * Unlimited swap (or unlimited memory) gives an unlimited memsw.
 */
export function memswLimit(memoryMax: number | "max", swapMax: number | "max"): number | "max" {
  return memoryMax === "max" || swapMax === "max" ? "max" : memoryMax + swapMax;
}

export function swapFromMemsw(memsw: number | "max", memoryMax: number | "max"): number | "max" {
  return memsw === "max" || memoryMax === "max" ? "max" : memsw - memoryMax;
}

/** Reads a v1 memory counter: "-1" or anything at PAGE_COUNTER_MAX scale means no limit. */
export function parseV1Bytes(raw: string): number | "max" {
  const s = raw.trim();
  if (s === "-1" || s === "max" || BigInt(s) >= v1Unlimited) return "max";
  return Number(s);
}
