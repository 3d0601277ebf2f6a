import * as pulumi from "@pulumi/pulumi";
import { Host, secretIfSsh, type ConnectionArgs } from "./host";

/** Where a resource lives: a Host, or its connection and prefix written out. */
export interface HostRef {
  connection: ConnectionArgs;
  /** @default "kslice" */
  prefix?: string;
  /** The OCI runtime its containers run with (a Host's ref leaves it out: "auto"). @default "auto" */
  runtime?: "auto" | "runc" | "crun";
}

/** Turns a Host into the plain input value other resources store. */
export function hostInput(
  host: Host | pulumi.Input<HostRef>,
  opts: pulumi.CustomResourceOptions | undefined,
): { host: pulumi.Input<HostRef>; opts: pulumi.CustomResourceOptions } {
  // host.ref carries the dependency on the Host.
  // A connection written out gets the Host's treatment: secret in state when it holds a key.
  if (host instanceof Host) return { host: host.ref, opts: opts ?? {} };
  return {
    host: pulumi
      .output(host)
      .apply((h) =>
        pulumi
          .all([secretIfSsh(h.connection), h.prefix, h.runtime])
          .apply(([connection, prefix, runtime]) => ({ connection, prefix, ...(runtime ? { runtime } : {}) })),
      ),
    opts: opts ?? {},
  };
}
