import * as pulumi from "@pulumi/pulumi";
import { Container } from "./container";
import { Host } from "./host";
import { hostInput, type HostRef } from "./host-ref";
import { ksliceArgs, quietStacks } from "./shim";
import { backupKind } from "../reconcile/kinds";

export interface BackupArgs {
  /** The container's host. */
  host: Host | pulumi.Input<HostRef>;
  /** The Container (its name on the host is taken, and it is made first), or a container's name on the host. */
  container: Container | pulumi.Input<string>;
  /** Directory on the host the files go to, `<container>-<UTC time>.kbak` (made 0700 at the first backup). */
  directory: pulumi.Input<string>;
  /** Any value: a change takes a new backup at the next up. @default "" (one backup, when the resource is created) */
  trigger?: pulumi.Input<string | number>;
  /** How many of this resource's files are kept, the newest; older ones are removed after a new backup. @default 3 */
  keep?: pulumi.Input<number>;
}

/**
 * Backup files of a container on its host (`kslice backup`'s format: the writable layer and the
 * declaration, sha256 of each member inside; the container frozen while its layer is read).
 * A Container with `rootfs: { backup: { file } }` is made from one. Deleting the resource leaves
 * its files.
 */
export class Backup extends pulumi.CustomResource {
  /** The newest backup file. */
  declare readonly file: pulumi.Output<string>;
  /** The files kept, oldest first. */
  declare readonly files: pulumi.Output<string[]>;
  /** sha256 of the newest file, as `sha256sum` prints it. */
  declare readonly sha256: pulumi.Output<string>;
  declare readonly bytes: pulumi.Output<number>;
  /** When the newest was taken (the host's UTC time). */
  declare readonly created: pulumi.Output<string>;
  /** How long the container was frozen for the newest (0: it was not running). */
  declare readonly frozenMs: pulumi.Output<number>;

  constructor(name: string, args: BackupArgs, opts?: pulumi.CustomResourceOptions) {
    const h = hostInput(args.host, opts);
    // runtimeId is the container's name on the host, and carries the dependency on it
    const container = args.container instanceof Container ? args.container.runtimeId : args.container;
    const restore = quietStacks();
    try {
      super(
        ...ksliceArgs(
          "backup",
          name,
          { ...args, host: h.host, container, file: undefined, files: undefined, sha256: undefined, bytes: undefined, created: undefined, frozenMs: undefined },
          { ...h.opts, additionalSecretOutputs: [...(h.opts.additionalSecretOutputs ?? []), ...backupKind.secret] },
          "Backup",
        ),
      );
    } finally {
      restore();
    }
  }
}
