import * as pulumi from "@pulumi/pulumi";
import { containersScene } from "../scene";

/**
 * The engine's floor for kslice's shape: the same program as ../containers (kslice's own Host,
 * ResourceLimits and N Containers, the same inputs, dependencies and secrets), with each resource's
 * provider swapped for one that does nothing and returns outputs of the same shape (./provider).
 * Against ../noop (one property per resource) it shows what a Container's ~25 properties cost the
 * SDK and the engine; against ../containers, what kslice's own checks, diffs and reads cost.
 */
const type = "pulumi-nodejs:dynamic/kslice:";
const kinds: Record<string, string> = { Host: "host", ResourceLimits: "limits", Container: "container" };
const providerText = (kind: string) => `exports.handler = () => require(${JSON.stringify(require.resolve("./provider"))}).shaped(${JSON.stringify(kind)});\n`;

export default async () => {
  pulumi.runtime.registerStackTransformation((a) => {
    const kind = a.type.startsWith(type) ? kinds[a.type.slice(type.length)] : undefined;
    return kind ? { props: { ...a.props, __provider: providerText(kind) }, opts: a.opts } : undefined;
  });
  return containersScene(false);
};
