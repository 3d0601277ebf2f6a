import type * as pulumi from "@pulumi/pulumi";

// Every field is a pulumi.Input, nested ones too, so that config values, secrets and other
// resources' outputs can go anywhere: `limits: { memory: { max: cfg.require("mem") } }`.

/** Sizes are bytes as a number, or a string with a unit: "256Mi" (binary), "1G" (decimal). */
export type Size = number | string;

export interface CpuLimitsArgs {
  /** Relative share under contention, 1–10000 (cpu.weight; v1 cpu.shares). @default the kernel's 100 */
  weight?: pulumi.Input<number>;
  /** Ceiling in cores, e.g. 1.5, or "max" (cpu.max; v1 cfs quota/period). @default no limit */
  max?: pulumi.Input<number | "max">;
  /** CPUs and memory nodes, e.g. { cpus: "0-1" } (cpuset.cpus/mems). @default the parent's */
  cpuset?: pulumi.Input<{ cpus?: pulumi.Input<string>; mems?: pulumi.Input<string> }>;
}

export interface MemoryLimitsArgs {
  /** Hard limit: above it the OOM killer runs (memory.max; v1 memory.limit_in_bytes). @default no limit */
  max?: pulumi.Input<Size | "max">;
  /** Throttling threshold (memory.high; cgroup v2 only). @default no limit */
  high?: pulumi.Input<Size | "max">;
  /** Best-effort protection (memory.low; v1 memory.soft_limit_in_bytes). @default 0 */
  low?: pulumi.Input<Size>;
  /** Swap allowed (memory.swap.max; v1 memsw = max + swap). @default no limit */
  swapMax?: pulumi.Input<Size | "max">;
}

export interface IoDeviceLimitsArgs {
  /** "MAJ:MIN" or a block device path such as "/dev/vda". */
  device: pulumi.Input<string>;
  /** Bytes per second. @default no limit */
  readBps?: pulumi.Input<Size | "max">;
  writeBps?: pulumi.Input<Size | "max">;
  /** Operations per second. @default no limit */
  readIops?: pulumi.Input<number | "max">;
  writeIops?: pulumi.Input<number | "max">;
}

/** Limits in cgroup v2's vocabulary; a field left out is not managed (never written, never diffed). */
export interface LimitsArgs {
  cpu?: pulumi.Input<CpuLimitsArgs>;
  memory?: pulumi.Input<MemoryLimitsArgs>;
  /** Most tasks at once (pids.max); 0 forbids new ones. @default no limit */
  pids?: pulumi.Input<{ max?: pulumi.Input<number | "max"> }>;
  io?: pulumi.Input<{ weight?: pulumi.Input<number>; devices?: pulumi.Input<pulumi.Input<IoDeviceLimitsArgs>[]> }>;
}
