import { z } from "zod";
import { connection } from "./connection";

export const runtimeChoices = ["auto", "runc", "crun"] as const;

/** The name under which kslice creates every kernel object on a host (ARCHITECTURE.md, "Where kslice keeps things on a host"). */
export const prefix = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}$/, "expected lowercase letters, digits and \"-\", starting with a letter, at most 40 characters");

export const hostArgs = z.strictObject({
  /** How to reach the host. */
  connection,
  /** Prefix of every cgroup, state directory and namespace kslice creates there. @default "kslice" */
  prefix: prefix.default("kslice"),
  /**
   * OCI runtime. "auto" picks crun on cgroup v2 hosts and runc elsewhere (crun refuses hybrid mode).
   * @default "auto"
   */
  runtime: z.enum(runtimeChoices).default("auto"),
  /** Take the host out of its pools: a ContainerSet moves its replicas to the other hosts at the next up. @default false (left unset by check, so hosts declared before it show no change) */
  draining: z.boolean().optional(),
});

export type HostArgs = z.output<typeof hostArgs>;
export type HostInput = z.input<typeof hostArgs>;
