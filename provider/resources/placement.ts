import * as pulumi from "@pulumi/pulumi";
import type { ConnectionArgs } from "./host";
import type { LimitsArgs } from "./limits-types";
import { ksliceArgs, quietStacks } from "./shim";
import { placementKind } from "../reconcile/kinds";

export interface PlacementHostArgs {
  /** The pool entry's key: what assignments name (a ContainerSet uses the Host's name). */
  key: string;
  host: { connection: pulumi.Unwrap<ConnectionArgs>; prefix: string };
  /** @default false */
  draining?: boolean;
}

export interface PlacementArgs {
  /** The replicas' names, in order. */
  replicas: pulumi.Input<pulumi.Input<string>[]>;
  hosts: pulumi.Input<PlacementHostArgs[]>;
  /** One replica's limits: memory.max (else memory.low) and cpu.max are reserved on its host. @default none */
  limits?: pulumi.Input<LimitsArgs>;
  /** How many replicas may move at once: each move waits for the one this many before it (`after`). @default 1 */
  maxUnavailable?: pulumi.Input<number>;
  /** Bound on each host's probe. @default 10 */
  probeTimeoutSeconds?: pulumi.Input<number>;
}

export interface PlacementAssignment {
  /** The key of the host the replica runs on. */
  host: string;
  /** Why there: "placed on …", "kept on …", "moved from a to b: a is draining (move 2 of 2, after web-1; at most 1 at a time)". */
  reason: string;
  /** The replica whose move this one's waits for; none: it moves at once (or does not move). */
  after?: string;
}

/**
 * Decides which host of a pool each replica runs on (capacity, spread, stability, drain); makes
 * nothing on any host. Decided at check, so the answer is known at preview. Used by ContainerSet.
 */
export class Placement extends pulumi.CustomResource {
  /** Replica name → host key and reason. */
  declare readonly assignments: pulumi.Output<Record<string, PlacementAssignment>>;
  /** Replicas recreated away from an unreachable host at this up, and a pool with fewer machines than hosts (prefixes of one machine). */
  declare readonly warnings: pulumi.Output<string[]>;

  constructor(name: string, args: PlacementArgs, opts?: pulumi.CustomResourceOptions) {
    const restore = quietStacks();
    try {
      super(
        ...ksliceArgs(
          "placement",
          name,
          { ...args, hosts: pulumi.secret(args.hosts), assignments: undefined, warnings: undefined },
          { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...placementKind.secret] },
          "Placement",
        ),
      );
    } finally {
      restore();
    }
  }
}
