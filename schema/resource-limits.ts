import { z } from "zod";
import { connection } from "./connection";
import { prefix } from "./host";
import { limits } from "./limits";
import { size } from "./units";

/** One path segment of a cgroup: no "/", no "." or "..", nothing the kernel would read specially. */
export const cgroupName = z
  .string()
  // A leading "." is refused, which rules out "." and ".." too.
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'expected letters, digits, "_", "." or "-" (no "/", not starting with "."), at most 64 characters');

/** A cgroup path below the prefix: "tenant-a" or "tenant-a/web". */
export const cgroupPath = z
  .string()
  .refine((p) => p.split("/").every((seg) => cgroupName.safeParse(seg).success), 'expected names joined by "/", e.g. "tenant-a/web"');

export const hostRef = z.strictObject({
  connection,
  prefix: prefix.default("kslice"),
  runtime: z.enum(["auto", "runc", "crun"]).optional(),
});

export const resourceLimitsArgs = z.strictObject({
  host: hostRef,
  /** The node's name in the cgroup tree. @default the resource's name */
  name: cgroupName,
  /** Path of the parent ResourceLimits (its `path` output). @default directly under the prefix */
  parent: cgroupPath.optional(),
  /** @default nothing managed */
  limits: limits.default({}),
  /**
   * A disk budget for the subtree: the `disk.max` its children declare (containers placed in it,
   * and nested ResourceLimits' own `disk.max`) must fit within `max` together, checked at preview;
   * a child that declares none is refused (it could fill the host past the budget). Nothing is
   * made on the host for it: each container's image enforces its own share. @default no budget
   */
  disk: z.strictObject({ max: size }).optional(),
  /** What delete does with processes still inside: "fail" (a clear error) or "kill" them first. @default "fail" */
  onDeleteWithProcesses: z.enum(["fail", "kill"]).default("fail"),
  /**
   * Take over a cgroup that already exists at this path (made by hand or by an earlier run)
   * instead of failing; its processes are left running. @default false
   */
  adopt: z.boolean().default(false),
});

export type ResourceLimitsArgs = z.output<typeof resourceLimitsArgs>;
