import * as pulumi from "@pulumi/pulumi";
import { Host, type ConnectionArgs } from "./host";

/** Where a resource lives: a Host, or its connection and prefix written out. */
export interface HostRef {
  connection: ConnectionArgs;
  /** @default "kslice" */
  prefix?: string;
}

/** Turns a Host into the plain input value other resources store. */
export function hostInput(
  host: Host | pulumi.Input<HostRef>,
  opts: pulumi.CustomResourceOptions | undefined,
): { host: pulumi.Input<HostRef>; opts: pulumi.CustomResourceOptions } {
  // host.ref carries the dependency on the Host.
  return host instanceof Host ? { host: host.ref, opts: opts ?? {} } : { host, opts: opts ?? {} };
}
