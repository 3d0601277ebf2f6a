import * as pulumi from "@pulumi/pulumi";

export type Kind = "host" | "limits" | "container" | "network" | "placement" | "backup";

/**
 * The `__provider` text of a kslice resource, which the engine's dynamic-provider process runs to
 * find the implementation: a module of this package, so naming it is enough. The SDK's closure
 * serializer made a far longer text per resource, stored twice in the state (inputs and outputs)
 * and sent with every check, diff and registration; the engine writes the whole state at every
 * step, so its size slowed every create of a large stack. Stacks made with the serialized text
 * keep working: it requires the same module.
 */
export const providerText = (kind: Kind) => `exports.handler = () => require("kslice/dist/provider/reconcile/lifecycles").lifecycles.${kind};\n`;

/**
 * pulumi.CustomResource's arguments for a kslice resource: what pulumi.dynamic.Resource passes (the
 * type token "pulumi-nodejs:dynamic/kslice:<Type>", served by the same dynamic-provider process),
 * with providerText for the serialized closure. Each resource class extends CustomResource itself
 * and calls super with these: the SDK takes a resource's source position a fixed number of frames
 * above Resource's constructor, so a base class of kslice's own between them made every resource's
 * position a line of kslice's instead of the user's program.
 */
export function ksliceArgs(
  kind: Kind,
  name: string,
  props: pulumi.Inputs,
  opts: pulumi.CustomResourceOptions | undefined,
  type: string,
): [string, string, pulumi.Inputs, pulumi.CustomResourceOptions | undefined] {
  return [`pulumi-nodejs:dynamic/kslice:${type}`, name, { ...props, __provider: providerText(kind) }, opts];
}

/**
 * Sets Error.stackTraceLimit to 0 until the returned function restores it; wraps a kslice
 * resource's super call. The SDK makes four promises per property while it constructs the
 * resource, each with a formatted stack trace (new Error().stack) kept only for its promise-leak
 * report: a Container's 30 properties made that most of a program's CPU in a preview of 500.
 * The resource's own source position (taken with a limit of its own) is unchanged.
 */
export function quietStacks(): () => void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  return () => {
    Error.stackTraceLimit = limit;
  };
}
