import * as pulumi from "@pulumi/pulumi";
import { ownerInput } from "./owner";
import { ksliceArgs, quietStacks } from "./shim";
import { hostKind } from "../reconcile/kinds";

export interface LocalConnectionArgs {
  type: "local";
}

export interface SshConnectionArgs {
  type: "ssh";
  /** Host name or address. */
  host: pulumi.Input<string>;
  /** @default 22 */
  port?: pulumi.Input<number>;
  /** @default "root" */
  user?: pulumi.Input<string>;
  /** OpenSSH private key; kept secret in state whether or not it is a Pulumi secret. */
  privateKey: pulumi.Input<string>;
  /** Expected host public key, "ssh-ed25519 AAAA…"; required unless insecureIgnoreHostKey. */
  hostKey?: pulumi.Input<string>;
  /** @default false */
  insecureIgnoreHostKey?: pulumi.Input<boolean>;
  /** @default 10 */
  connectTimeoutSeconds?: pulumi.Input<number>;
}

export type ConnectionArgs = LocalConnectionArgs | SshConnectionArgs;

export interface HostArgs {
  /** How to reach the host. */
  connection: pulumi.Input<ConnectionArgs>;
  /** Prefix of every kernel object kslice creates on the host. @default "kslice" */
  prefix?: pulumi.Input<string>;
  /** OCI runtime: "auto" picks crun on cgroup v2 hosts, runc elsewhere. @default "auto" */
  runtime?: pulumi.Input<"auto" | "runc" | "crun">;
  /**
   * Take the host out of every ContainerSet's pool: its replicas move to the other hosts at the next
   * up (their containers change host), and none is placed here. Containers declared on it alone stay.
   * Recorded on the host too, so that `kslice ps` and the dashboard show it. @default false
   */
  draining?: pulumi.Input<boolean>;
  /**
   * Defaults for the containers placed on this Host that declare none. `disk`: the disk limit of a
   * container without `disk` (see Container's `disk`), applied from its create on; a container made
   * before the default keeps none (adding one would replace it), a changed default applies as a
   * changed `disk` would, and a removed one leaves the containers that got it their last limit.
   * @default none: an undeclared container's writable layer shares the host's disk
   */
  defaults?: pulumi.Input<{ disk?: pulumi.Input<{ max: pulumi.Input<number | string>; inodes?: pulumi.Input<number> }> }>;
}

export interface RuntimeInfo {
  name: "runc" | "crun";
  path: string;
  version: string;
}

/**
 * An SSH connection holds a private key. The engine stores inputs as the program gave them
 * (additionalSecretOutputs covers only outputs), so a plain key would sit in the state's inputs of
 * the Host and of every resource on it: make the connection secret whether or not the key was.
 */
export function secretIfSsh(connection: pulumi.Input<ConnectionArgs>): pulumi.Output<pulumi.Unwrap<ConnectionArgs>> {
  type Connection = pulumi.Unwrap<ConnectionArgs>;
  return pulumi.output(connection).apply((c): pulumi.Output<Connection> => (c.type === "ssh" ? pulumi.secret<Connection>(c) : pulumi.output<Connection>(c)));
}

/** A Linux host that kslice slices into containers; its outputs are read from the host's kernel. */
export class Host extends pulumi.CustomResource {
  declare readonly connection: pulumi.Output<pulumi.Unwrap<ConnectionArgs>>;
  declare readonly prefix: pulumi.Output<string>;
  declare readonly runtime: pulumi.Output<"auto" | "runc" | "crun">;
  /**
   * The machine's identity (its /etc/machine-id; `connection <user@host:port>` on a host without
   * one). A new address, port or user of the same machine updates in place; another machine replaces.
   */
  declare readonly machineId: pulumi.Output<string>;
  declare readonly hostname: pulumi.Output<string>;
  /** `uname -r` */
  declare readonly kernelRelease: pulumi.Output<string>;
  declare readonly cgroupMode: pulumi.Output<"legacy" | "hybrid" | "unified">;
  /** Controllers kslice can manage: v2's on unified hosts, v1's on legacy and hybrid ones. */
  declare readonly cgroupControllers: pulumi.Output<string[]>;
  declare readonly cpuCount: pulumi.Output<number>;
  declare readonly memoryTotalBytes: pulumi.Output<number>;
  declare readonly userNamespaces: pulumi.Output<boolean>;
  /** Every OCI runtime found on the host. */
  declare readonly runtimes: pulumi.Output<RuntimeInfo[]>;
  /** The runtime kslice uses there, and its version. */
  declare readonly runtimeName: pulumi.Output<string>;
  declare readonly runtimeVersion: pulumi.Output<string>;

  /**
   * What other resources need to reach this host: its connection and prefix, from the inputs (so
   * known during preview even while the Host updates), carrying a dependency on the Host.
   */
  readonly ref: pulumi.Output<{ connection: pulumi.Unwrap<ConnectionArgs>; prefix: string }>;

  /** What a ContainerSet's pool needs: the Host's name (its key) and whether it is draining, from the inputs. */
  readonly poolEntry: pulumi.Output<{ key: string; draining: boolean }>;
  /** The defaults as declared (known at preview; null without any), passed to the containers placed on this Host. */
  readonly declaredDefaults: pulumi.Output<{ disk?: { max: number | string; inodes?: number } } | null>;

  constructor(name: string, args: HostArgs, opts?: pulumi.CustomResourceOptions) {
    const outputs = {
      machineId: undefined,
      hostname: undefined,
      kernelRelease: undefined,
      cgroupMode: undefined,
      cgroupControllers: undefined,
      cpuCount: undefined,
      memoryTotalBytes: undefined,
      userNamespaces: undefined,
      runtimes: undefined,
      runtimeName: undefined,
      runtimeVersion: undefined,
    };
    const connection = secretIfSsh(args.connection);
    const restore = quietStacks();
    try {
      super(
        ...ksliceArgs(
          "host",
          name,
          { ...args, connection, ...outputs, owner: ownerInput(name, "Host", opts) },
          { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...hostKind.secret] },
          "Host",
        ),
      );
    } finally {
      restore();
    }
    this.ref = pulumi.all([this.urn, connection, args.prefix ?? "kslice"]).apply(([, connection, prefix]) => ({ connection, prefix }));
    this.poolEntry = pulumi.output(args.draining ?? false).apply((draining) => ({ key: name, draining }));
    this.declaredDefaults = pulumi.output(args.defaults ?? null) as pulumi.Output<{ disk?: { max: number | string; inodes?: number } } | null>;
  }
}
