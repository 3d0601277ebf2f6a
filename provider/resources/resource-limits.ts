import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { hostInput, type HostRef } from "./host-ref";
import { ownerInput } from "./owner";
import type { LimitsArgs, Size } from "./limits-types";
import { ksliceArgs, quietStacks } from "./shim";
import { limitsKind } from "../reconcile/kinds";

export interface ResourceLimitsArgs {
  /** The host: a kslice.Host, or its connection and prefix. */
  host: Host | pulumi.Input<HostRef>;
  /** Node name in the cgroup tree; renaming replaces. @default the resource's name */
  name?: pulumi.Input<string>;
  /** The parent budget: a ResourceLimits or its `path`; moving replaces. @default directly under the prefix */
  parent?: ResourceLimits | pulumi.Input<string>;
  /** Limits, cgroup v2 vocabulary; every change applies live. @default none managed */
  limits?: pulumi.Input<LimitsArgs>;
  /**
   * A disk budget for the subtree: the `disk.max` of its children (containers placed in it, nested
   * ResourceLimits) must fit within `max` together, and each must declare one; checked at preview.
   * @default no budget
   */
  disk?: pulumi.Input<{ max: pulumi.Input<Size> }>;
  /** Processes still inside on delete: "fail" with a clear error, or "kill" them first. @default "fail" */
  onDeleteWithProcesses?: pulumi.Input<"fail" | "kill">;
  /** Take over an existing cgroup at this path without disturbing its processes. @default false */
  adopt?: pulumi.Input<boolean>;
}

/** One cgroup node with declared limits, nestable through `parent`; containers are placed inside. */
export class ResourceLimits extends pulumi.CustomResource {
  /**
   * Path below the host's prefix, e.g. "tenant-a/web". Derived from the inputs (known during
   * preview even while this resource updates) and carrying a dependency on this resource.
   */
  readonly path: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly limits: pulumi.Output<pulumi.Unwrap<LimitsArgs>>;
  /** The limits as declared (known at preview), so that children are checked against them before this node exists. */
  readonly declaredLimits: pulumi.Output<pulumi.Unwrap<LimitsArgs>>;
  /** The disk budget as declared (known at preview; null without one), so that children are checked against it. */
  readonly declaredDisk: pulumi.Output<{ max: Size } | null>;

  constructor(name: string, args: ResourceLimitsArgs, opts?: pulumi.CustomResourceOptions) {
    const h = hostInput(args.host, opts);
    const parent = args.parent instanceof ResourceLimits ? args.parent.path : args.parent;
    const nodeName = args.name ?? name;
    const restore = quietStacks();
    try {
      super(
        ...ksliceArgs(
          "limits",
          name,
          {
            ...args,
            host: h.host,
            name: nodeName,
            parent,
            limits: args.limits ?? {},
            owner: ownerInput(name, "ResourceLimits", opts),
            parentLimits: args.parent instanceof ResourceLimits ? args.parent.declaredLimits : undefined,
            parentDisk: args.parent instanceof ResourceLimits ? args.parent.declaredDisk : undefined,
          },
          { ...h.opts, additionalSecretOutputs: [...(h.opts.additionalSecretOutputs ?? []), ...limitsKind.secret] },
          "ResourceLimits",
        ),
      );
    } finally {
      restore();
    }
    this.path = pulumi.all([this.urn, nodeName, parent]).apply(([, n, p]) => (p ? `${p}/${n}` : n));
    this.declaredLimits = pulumi.output(args.limits ?? {});
    this.declaredDisk = pulumi.output(args.disk ?? null) as pulumi.Output<{ max: Size } | null>;
  }
}
