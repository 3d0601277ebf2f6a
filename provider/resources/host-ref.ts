import * as pulumi from "@pulumi/pulumi";
import { Host, type ConnectionArgs } from "./host";

/** Where a resource lives: a Host, or its connection and prefix written out. */
export interface HostRef {
  connection: ConnectionArgs;
  /** @default "kslice" */
  prefix?: string;
}

/** Turns a Host into the plain input value other resources store, and depends on it. */
export function hostInput(
  host: Host | pulumi.Input<HostRef>,
  opts: pulumi.CustomResourceOptions | undefined,
): { host: pulumi.Input<HostRef>; opts: pulumi.CustomResourceOptions } {
  if (host instanceof Host) {
    const dependsOn = opts?.dependsOn ? pulumi.output(opts.dependsOn).apply((d) => [...(Array.isArray(d) ? d : [d]), host]) : [host];
    return { host: pulumi.all([host.connection, host.prefix]).apply(([connection, prefix]) => ({ connection, prefix })), opts: { ...opts, dependsOn } };
  }
  return { host, opts: opts ?? {} };
}
