import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { backupArgs } from "../../schema/backup";
import type { containerArgs } from "../../schema/container";
import type { networkAttachment } from "../../schema/container-network";
import type { hostArgs } from "../../schema/host";
import type { networkArgs } from "../../schema/network";
import type { placementArgs } from "../../schema/placement";
import type { resourceLimitsArgs } from "../../schema/resource-limits";
import type { Kind, OutOf } from "../reconcile/kind";
import type { backupKind, containerKind, hostKind, limitsKind, networkKind } from "../reconcile/kinds";
import type { Backup, BackupArgs } from "./backup";
import type { Container, ContainerArgs, NetworkAttachmentArgs } from "./container";
import type { Host, HostArgs } from "./host";
import type { Network, NetworkArgs } from "./network";
import type { PlacementArgs } from "./placement";
import type { ResourceLimits, ResourceLimitsArgs } from "./resource-limits";

// The compile-time contract between what a user writes (each resource's Args, which carry the docs
// an editor shows) and what the provider accepts (the zod schema it checks them with): the same
// keys, and every value the Args allow is one the schema takes. A field added to one side only, or
// typed differently, fails `npm run typecheck`. Type-only: nothing here reaches dist's JavaScript.

/** Keys only the Args have, keys only the schema has (but those the class fills itself), and keys whose values differ. */
type Contract<Args, Schema, Converted extends keyof Args = never, Internal extends keyof Schema = never> = [
  onlyInArgs: Exclude<keyof Args, keyof Schema>,
  onlyInSchema: Exclude<Exclude<keyof Schema, keyof Args>, Internal>,
  typesDiffer: Exclude<{ [K in keyof Args & keyof Schema]-?: pulumi.Unwrap<Args[K]> extends Schema[K] ? never : K }[keyof Args & keyof Schema], Converted>,
];

/** Holds when each of the three is empty; the compiler's error names the keys otherwise. */
type Holds<C extends [never, never, never]> = C;

// "Converted": fields the class turns into the schema's form before registering (a Host or
// ResourceLimits object into its ref, a default from the resource's name), each checked by its own
// conversion's types in the class.
export type HostContract = Holds<Contract<HostArgs, z.input<typeof hostArgs>>>;
export type ResourceLimitsContract = Holds<Contract<ResourceLimitsArgs, z.input<typeof resourceLimitsArgs>, "host" | "name" | "parent">>;
export type NetworkContract = Holds<Contract<NetworkArgs, z.input<typeof networkArgs>, "host" | "name">>;
export type ContainerContract = Holds<Contract<ContainerArgs, z.input<typeof containerArgs>, "host" | "name" | "parent" | "networks">>;
/** A container's networks, past the Network object the class turns into its ref. */
export type NetworkAttachmentContract = Holds<Contract<NetworkAttachmentArgs, z.input<typeof networkAttachment>, "network">>;
export type BackupContract = Holds<Contract<BackupArgs, z.input<typeof backupArgs>, "host" | "container">>;
// assignments and warnings: the ContainerSet component's, never a user's
export type PlacementContract = Holds<Contract<PlacementArgs, z.input<typeof placementArgs>, never, "assignments" | "warnings">>;

// The same contract for outputs: each output a resource class declares has the type its kind's
// descriptor gives it (reconcile/kinds.ts, what the lifecycle returns), and every output of the
// descriptor is declared but those the class leaves out on purpose (`Hidden`).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type OutputContract<Class, K extends Kind, Hidden extends keyof OutOf<K> = never> = [
  undeclared: Exclude<keyof OutOf<K>, keyof Class | Hidden>,
  typesDiffer: { [P in keyof OutOf<K> & keyof Class]-?: Same<pulumi.Unwrap<Class[P]>, OutOf<K>[P]> extends true ? never : P }[keyof OutOf<K> & keyof Class],
];
type OutputsHold<C extends [never, never]> = C;

// machineId: a resource's machine, which kslice compares (host-identity.ts); a Host shows its own
export type HostOutputsContract = OutputsHold<OutputContract<Host, typeof hostKind>>;
export type ResourceLimitsOutputsContract = OutputsHold<OutputContract<ResourceLimits, typeof limitsKind, "machineId">>;
export type NetworkOutputsContract = OutputsHold<OutputContract<Network, typeof networkKind, "machineId">>;
export type ContainerOutputsContract = OutputsHold<OutputContract<Container, typeof containerKind, "machineId">>;
export type BackupOutputsContract = OutputsHold<OutputContract<Backup, typeof backupKind>>;
