import { z } from "zod";
import { connection } from "./connection";
import { disk } from "./disk";

export const runtimeChoices = ["auto", "runc", "crun"] as const;

/** The name under which kslice creates every kernel object on a host (ARCHITECTURE.md, "Where kslice keeps things on a host"). */
export const prefix = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'expected lowercase letters, digits and "-", starting with a letter, at most 40 characters');

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
  /**
   * Defaults for the containers on this host that declare none (ARCHITECTURE.md, "Disk limits: why").
   * `disk`: the disk limit of a container that declares no `disk`, from its create on: a container
   * made before the default keeps its writable layer on the host's disk (adding a limit would
   * replace it); a change of the default applies as a change of `disk` would; removing it leaves
   * the containers that got it with their last limit. Only a Host given as such passes it on (not
   * to a ContainerSet's replicas, whose host is an output of the placement).
   * @default none: an undeclared container's writable layer shares the host's disk
   */
  defaults: z.strictObject({ disk: disk.optional() }).optional(),
});

export type HostArgs = z.output<typeof hostArgs>;
export type HostInput = z.input<typeof hostArgs>;
