import * as pulumi from "@pulumi/pulumi";

/**
 * The owner recorded on every kernel object a resource makes: its URN (stack, project, type and
 * name), known at preview. Reconcile keeps it out of diffs.
 */
export function ownerInput(name: string, type: string, opts: pulumi.CustomResourceOptions | undefined): pulumi.Output<string> {
  return pulumi.createUrn(name, `pulumi-nodejs:dynamic/kslice:${type}`, opts?.parent);
}
