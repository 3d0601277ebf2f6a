import type { Limits } from "../../../schema/limits";

/** One file write that carries (part of) a limit. Planning is pure; one writer does the I/O. */
export interface Setting {
  /** The input it comes from, in the user's vocabulary: "memory.max", "io.devices[254:0]". */
  key: string;
  /** v1 hierarchy that holds the file ("memory"); on v2 the controller the file belongs to. */
  controller: string;
  file: string;
  value: string;
  /** For files holding one line per device (io.max, blkio.throttle.*): the device "MAJ:MIN". */
  entry?: string;
}

export interface PlanContext {
  /** cpu.max period in µs. */
  periodUs: number;
  /** Block device paths resolved on the host: "/dev/vda" -> "254:0". */
  devices: Record<string, string>;
}

/** Raw file contents keyed "controller/file"; undefined when the file is missing. */
export type Files = Record<string, string | undefined>;

export const fileKey = (s: { controller: string; file: string }) => `${s.controller}/${s.file}`;

/** A controller's mapping of limits onto its files, for one cgroup version. */
export interface ControllerMapping {
  /** The files this controller reads to observe its limits. */
  files: { controller: string; file: string }[];
  plan(l: Limits, ctx: PlanContext): Setting[];
  /** The writes that return the given inputs (present in `l`) to the kernel's default. */
  reset(l: Limits, ctx: PlanContext): Setting[];
  /** Normalizes a file's content (or a setting's value) so that equal limits compare equal. */
  normalize(s: Setting, raw: string | undefined): string;
  /** The limits as the kernel reports them, in the v2 vocabulary. */
  observe(files: Files, ctx: PlanContext): Limits;
  /** Inputs this host cannot express, with the reason. */
  unsupported(l: Limits, features: Set<string>): { key: string; reason: string }[];
}

/**
 * A setting's value that the driver resolves at write time to the parent's current value (the
 * parent's cpuset.cpus on v1, its cpuset.cpus.effective on v2): how a removed cpuset returns to
 * "the parent's set". Never compared for drift.
 */
export const parentValue = "@parent";

export const trim = (raw: string | undefined) => (raw ?? "").trim();

/** Device "MAJ:MIN" for an io.devices entry, resolved through the context. */
export function deviceId(device: string, ctx: PlanContext): string {
  return /^\d+:\d+$/.test(device) ? device : (ctx.devices[device] ?? device);
}

/** The line of a per-device file for one device, or undefined. */
export function deviceLine(raw: string | undefined, entry: string): string | undefined {
  return (raw ?? "").split("\n").find((l) => l.startsWith(`${entry} `));
}

/** The kernel keeps memory limits in whole pages, rounding down: compare what it will keep. */
export function pageAligned(v: number | "max"): string {
  return v === "max" ? "max" : String(Math.floor(v / 4096) * 4096);
}
