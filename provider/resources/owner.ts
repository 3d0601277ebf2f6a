import * as pulumi from "@pulumi/pulumi";

/**
 * The owner recorded on every kernel object a resource makes: its URN (stack, project, type and
 * name), known at preview. Reconcile keeps it out of diffs.
 */
export function ownerInput(name: string, type: string, opts: pulumi.CustomResourceOptions | undefined): pulumi.Output<string> {
  const parent = opts?.parent;
  // The parent's urn Output carries the parent as a dependency, and an input that depends on a
  // component waits for all the component's children, this one included: a deadlock (a resource in
  // a ContainerSet never registered). Take the URN's text alone, without the dependency.
  const parentUrn = parent ? pulumi.output(new Promise<string>((resolve) => parent.urn.apply((u) => (resolve(u), u)))) : undefined;
  return pulumi.createUrn(name, `pulumi-nodejs:dynamic/kslice:${type}`, parentUrn);
}
