import type { Limits } from "../../../schema/limits";
import type { FailCounters } from "./counters";
import type { Usage } from "./usage";

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

/** A file of a node: on v1 `controller` names the hierarchy that holds it, on v2 the controller the file belongs to. */
export interface FileRef {
  controller: string;
  file: string;
}

export const fileKey = (s: FileRef) => `${s.controller}/${s.file}`;

/** What one controller reports about a node from its own files: its part of `T`. */
export interface Report<T> {
  /** The files it reads (in the node's directory of each file's hierarchy). */
  files: readonly FileRef[];
  /** Its fields of `T` from those files; a missing file counts 0. */
  read(files: Files): Partial<T>;
}

/** A controller, for one cgroup version: its mapping of limits onto its files, and what it reports of usage. */
export interface ControllerMapping {
  /** The files this controller reads to observe its limits. */
  files: FileRef[];
  plan(l: Limits, ctx: PlanContext): Setting[];
  /** The writes that return the given inputs (present in `l`) to the kernel's default. */
  reset(l: Limits, ctx: PlanContext): Setting[];
  /** Normalizes a file's content (or a setting's value) so that equal limits compare equal. */
  normalize(s: Setting, raw: string | undefined): string;
  /** The limits as the kernel reports them, in the v2 vocabulary. */
  observe(files: Files, ctx: PlanContext): Limits;
  /** Inputs this host cannot express, with the reason. */
  unsupported(l: Limits, features: Set<string>): { key: string; reason: string }[];
  /** Its part of what the node has used (usage.ts); absent when it reports none. */
  usage?: Report<Usage>;
  /** Its part of the node's fail counters (counters.ts); absent when it has none. */
  counters?: Report<FailCounters>;
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

/** A whole-number file ("4096\n"); 0 when missing or empty. */
export const count = (raw: string | undefined) => Number(trim(raw)) || 0;

/** A "name value" line of a flat keyed file (memory.events, cpu.stat, pids.events); 0 when missing. */
export const keyed = (raw: string | undefined, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(raw ?? "")?.[1] ?? 0);
