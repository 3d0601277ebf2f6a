import * as pulumi from "@pulumi/pulumi";
import { ownerInput } from "./owner";
import { shimProvider } from "./shim";

export interface LocalConnectionArgs {
  type: "local";
}

export interface SshConnectionArgs {
  type: "ssh";
  /** Host name or address. */
  host: string;
  /** @default 22 */
  port?: number;
  /** @default "root" */
  user?: string;
  /** OpenSSH private key; pass a Pulumi secret (it is kept secret in state). */
  privateKey: string;
  /** Expected host public key, "ssh-ed25519 AAAA…"; required unless insecureIgnoreHostKey. */
  hostKey?: string;
  /** @default false */
  insecureIgnoreHostKey?: boolean;
  /** @default 10 */
  connectTimeoutSeconds?: number;
}

export type ConnectionArgs = LocalConnectionArgs | SshConnectionArgs;

export interface HostArgs {
  /** How to reach the host. */
  connection: pulumi.Input<ConnectionArgs>;
  /** Prefix of every kernel object kslice creates on the host. @default "kslice" */
  prefix?: pulumi.Input<string>;
  /** OCI runtime: "auto" picks crun on cgroup v2 hosts, runc elsewhere. @default "auto" */
  runtime?: pulumi.Input<"auto" | "runc" | "crun">;
}

export interface RuntimeInfo {
  name: string;
  path: string;
  version: string;
}

/** A Linux host that kslice slices into containers; its outputs are read from the host's kernel. */
export class Host extends pulumi.dynamic.Resource {
  declare readonly connection: pulumi.Output<ConnectionArgs>;
  declare readonly prefix: pulumi.Output<string>;
  declare readonly runtime: pulumi.Output<"auto" | "runc" | "crun">;
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
  readonly ref: pulumi.Output<{ connection: ConnectionArgs; prefix: string }>;

  constructor(name: string, args: HostArgs, opts?: pulumi.CustomResourceOptions) {
    const outputs = {
      hostname: undefined, kernelRelease: undefined, cgroupMode: undefined, cgroupControllers: undefined,
      cpuCount: undefined, memoryTotalBytes: undefined, userNamespaces: undefined, runtimes: undefined,
      runtimeName: undefined, runtimeVersion: undefined,
    };
    super(shimProvider("host"), name, { ...args, ...outputs, owner: ownerInput(name, "Host", opts) }, {
      ...opts,
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"],
    }, "kslice", "Host");
    this.ref = pulumi
      .all([this.urn, args.connection, args.prefix ?? "kslice"])
      .apply(([, connection, prefix]) => ({ connection, prefix }));
  }
}
