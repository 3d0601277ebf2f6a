import { z } from "zod";
import { cpuList, size, sizeOrMax } from "./units";

/**
 * Resource limits in cgroup v2's vocabulary (max, high, low, weight), mapped onto v1 by the
 * kernel drivers. A field left out is not managed: never written, never diffed.
 */
export const cpuLimits = z.strictObject({
  /** Relative share under contention, 1–10000 (cpu.weight; v1 cpu.shares). @default the kernel's 100 */
  weight: z.number().int().min(1).max(10000).optional(),
  /** Ceiling in cores, e.g. 1.5, or "max" (cpu.max; v1 cfs quota/period). @default no limit */
  max: z.union([z.literal("max"), z.number().gt(0, "expected more than 0 cores (e.g. 0.5)")]).optional(),
  /** CPUs and memory nodes the processes may use (cpuset.cpus, cpuset.mems). @default the parent's */
  cpuset: z.strictObject({ cpus: cpuList.optional(), mems: cpuList.optional() }).optional(),
});

export const memoryLimits = z.strictObject({
  /** Hard limit; above it the OOM killer runs (memory.max; v1 memory.limit_in_bytes). @default no limit */
  max: sizeOrMax.optional(),
  /** Throttling threshold (memory.high; no v1 equivalent). @default no limit */
  high: sizeOrMax.optional(),
  /** Best-effort protection (memory.low; v1 memory.soft_limit_in_bytes). @default 0 */
  low: size.optional(),
  /** Swap allowed (memory.swap.max; v1 memsw = max + swap). @default no limit */
  swapMax: sizeOrMax.optional(),
});

export const pidsLimits = z.strictObject({
  /** Most tasks at once; 0 is valid and forbids new ones (pids.max). @default no limit */
  max: z.union([z.literal("max"), z.number().int().min(0)]).optional(),
});

const rate = z.union([z.literal("max"), z.number().int().min(1)]);

export const ioDevice = z.strictObject({
  /** "MAJ:MIN" or a block device path such as "/dev/vda". */
  device: z.string().regex(/^(\d+:\d+|\/dev\/\S+)$/, 'expected "MAJ:MIN" or a block device path like "/dev/vda"'),
  /** Bytes per second, e.g. "10Mi". @default no limit */
  readBps: z.union([z.literal("max"), size]).optional(),
  writeBps: z.union([z.literal("max"), size]).optional(),
  /** I/O operations per second. @default no limit */
  readIops: rate.optional(),
  writeIops: rate.optional(),
});

export const ioLimits = z.strictObject({
  /** Relative share, 1–10000 (io.weight; v1 blkio.weight). @default the kernel's 100 */
  weight: z.number().int().min(1).max(10000).optional(),
  /** Per-device throttles (io.max; v1 blkio.throttle.*). */
  devices: z.array(ioDevice).optional(),
});

export const limits = z.strictObject({
  cpu: cpuLimits.optional(),
  memory: memoryLimits.optional(),
  pids: pidsLimits.optional(),
  io: ioLimits.optional(),
});

export type Limits = z.output<typeof limits>;
export type LimitsInput = z.input<typeof limits>;
export type IoDevice = z.output<typeof ioDevice>;
