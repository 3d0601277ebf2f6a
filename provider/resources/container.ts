import * as pulumi from "@pulumi/pulumi";
import type { Connection } from "../../schema/connection";
import { Host } from "./host";
import { hostInput, type HostRef } from "./host-ref";
import { ownerInput } from "./owner";
import type { LimitsArgs, Size } from "./limits-types";
import { Network, type IngressRuleArgs, type NetworkRef } from "./network";
import { ResourceLimits } from "./resource-limits";
import { ksliceArgs, quietStacks } from "./shim";
import { containerKind } from "../reconcile/kinds";
import type { Usage } from "../kernel/cgroup/usage";
import type { MigrationRecord } from "../reconcile/container/move-records";

export type BaseRootfsArgs =
  /** The host's busybox-static as a tiny rootfs (no network needed). */
  | { busybox: Record<string, never> }
  /** An existing directory on the host, used read-only below a private writable layer. */
  | { path: pulumi.Input<string> }
  /** A Debian suite built once per host with mmdebstrap and shared read-only. */
  | { debootstrap: pulumi.Input<{ suite: pulumi.Input<string>; mirror?: pulumi.Input<string>; packages?: pulumi.Input<pulumi.Input<string>[]> }> }
  /** An OCI image layout on the host, unpacked once with umoci and shared read-only. */
  | { ociLayout: pulumi.Input<{ path: pulumi.Input<string>; ref?: pulumi.Input<string> }> };

export type RootfsArgs =
  | BaseRootfsArgs
  /**
   * A backup file on the container's host (`kslice backup` or a Backup): its writable layer is
   * unpacked at create, owners moved into this container's user-namespace range; a corrupt or
   * truncated file is refused at preview. `rootfs`: what the layer lies on, @default the one recorded in the backup.
   */
  | { backup: pulumi.Input<{ file: pulumi.Input<string>; rootfs?: pulumi.Input<BaseRootfsArgs> }> };

export type MountArgs =
  | { type: "bind"; source: pulumi.Input<string>; target: pulumi.Input<string>; /** @default true */ readOnly?: pulumi.Input<boolean> }
  | { type: "tmpfs"; target: pulumi.Input<string>; /** @default "64Mi" */ size?: pulumi.Input<Size> };

export interface NetworkAttachmentArgs {
  /** A Network, its `ref`, or the name of a network already on the host. */
  network: Network | pulumi.Input<NetworkRef> | pulumi.Input<string>;
  /** A static address in the subnet. @default the lowest free one, kept while the container exists */
  address?: pulumi.Input<string>;
  /** A static IPv6 address in a dual-stack network's subnet6. @default the lowest free one, kept while the container exists */
  address6?: pulumi.Input<string>;
  /** Traffic shaping (tc), e.g. "10mbit"; changes apply live. */
  bandwidth?: pulumi.Input<{ ingress?: pulumi.Input<string | number>; egress?: pulumi.Input<string | number> }>;
  /** Anti-spoofing: only the container's own MAC and address leave this interface; false for a router or VPN gateway. @default true */
  antiSpoofing?: pulumi.Input<boolean>;
}

export interface PublishedPortArgs {
  hostPort: pulumi.Input<number>;
  /** @default hostPort */
  containerPort?: pulumi.Input<number>;
  /** @default "tcp" */
  protocol?: pulumi.Input<"tcp" | "udp">;
  /** @default "0.0.0.0" (every address of the host) */
  hostAddress?: pulumi.Input<string>;
  /** The container's network that receives it. @default its first */
  network?: pulumi.Input<string>;
}

export interface ContainerArgs {
  host: Host | pulumi.Input<HostRef>;
  /** Name on the host: the runtime id and the cgroup name. @default the resource's name */
  name?: pulumi.Input<string>;
  /** The budget it runs in: a ResourceLimits or its path. @default directly under the prefix */
  parent?: ResourceLimits | pulumi.Input<string>;
  /** The container's own limits; changes apply live. @default none managed */
  limits?: pulumi.Input<LimitsArgs>;
  /** @default { busybox: {} } */
  rootfs?: pulumi.Input<RootfsArgs>;
  /** The init process and its arguments. */
  command: pulumi.Input<pulumi.Input<string>[]>;
  /** Environment; values may be secrets (kept secret in state). @default none */
  env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** @default "/" */
  workingDir?: pulumi.Input<string>;
  /** @default { uid: 0, gid: 0 } */
  user?: pulumi.Input<{ uid: pulumi.Input<number>; gid: pulumi.Input<number> }>;
  /** @default the container's name */
  hostname?: pulumi.Input<string>;
  mounts?: pulumi.Input<pulumi.Input<MountArgs>[]>;
  /**
   * Disk space and inodes of the writable layer, enforced by the kernel: an ext4 image of `max`
   * bytes (at least "16Mi"), loop-mounted; writes past it fail with ENOSPC, and `df /` inside shows
   * it. A larger `max` is live (a restart where root lacks CAP_SYS_RESOURCE), a smaller one restarts
   * it with its files; other `inodes`, or adding or removing it, replace the container. Under a
   * ResourceLimits with a disk budget it must be declared (or come from the Host's default).
   * @default the Host's `defaults.disk`, else none: the writable layer shares the host's disk
   */
  disk?: pulumi.Input<{ max: pulumi.Input<Size>; inodes?: pulumi.Input<number> }>;
  /**
   * The container's own /proc (meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps) and
   * /sys/devices/system/cpu/online, from the host's lxcfs run by kslice; a change restarts it. @default true
   */
  procViews?: pulumi.Input<boolean>;
  /**
   * Sysctls of the container's own namespaces, as Docker's --sysctl: `net.*`, `kernel.shm*`,
   * `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`, `kernel.domainname`; any other would change the host
   * and is refused at preview. Values are strings (`"250 32000 32 128"`). Changes apply live; a
   * removed one restarts the container. @default none: the kernel's defaults for a new namespace
   */
  sysctls?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Changes apply live (stop/start). @default "running" */
  state?: pulumi.Input<"running" | "stopped">;
  /** @default "no" */
  restartPolicy?: pulumi.Input<"no" | "on-failure" | "always">;
  /**
   * Fill the `usage` output (memory, CPU time, tasks, OOM kills) at create, update and refresh.
   * Usage changes on every refresh; `kslice ps`/`top` show it without touching the stack.
   * @default false: `usage` is null
   */
  reportUsage?: pulumi.Input<boolean>;
  security?: pulumi.Input<{
    capAdd?: pulumi.Input<pulumi.Input<string>[]>;
    capDrop?: pulumi.Input<pulumi.Input<string>[]>;
    /** @default false */
    userNamespace?: pulumi.Input<boolean>;
    /** @default false */
    readOnlyRootfs?: pulumi.Input<boolean>;
    /** Docker's default allow-list profile, or "unconfined" for no seccomp filter. @default "default" */
    seccomp?: pulumi.Input<"default" | "unconfined">;
  }>;
  /** Seconds between SIGTERM and SIGKILL on stop; waited only while the init catches SIGTERM (the kernel drops it otherwise). @default 10 */
  stopGraceSeconds?: pulumi.Input<number>;
  /** Cap of the stdout/stderr log file on the host. @default "8Mi" */
  logMaxSize?: pulumi.Input<Size>;
  /** Networks joined, in order (eth0, eth1, …); changes apply live. @default none: loopback only */
  networks?: NetworkAttachmentArgs[] | pulumi.Input<pulumi.Input<NetworkAttachmentArgs>[]>;
  /** Host address and port → container port (nftables DNAT); changes apply live. */
  ports?: pulumi.Input<pulumi.Input<PublishedPortArgs>[]>;
  /** /etc/resolv.conf. @default the host's nameservers (loopback ones left out) */
  dns?: pulumi.Input<{
    nameservers?: pulumi.Input<pulumi.Input<string>[]>;
    search?: pulumi.Input<pulumi.Input<string>[]>;
    options?: pulumi.Input<pulumi.Input<string>[]>;
  }>;
  /** Extra /etc/hosts entries, name → address. */
  hosts?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Who may reach it: given, every other packet arriving on its networks is dropped and counted
   * (`ingressDrops` in `kslice ps --json`), except replies to its own connections and its published
   * ports; `[]` lets nothing else in. Changes apply live. @default its networks' `ingress`, else no filtering
   */
  ingress?: pulumi.Input<pulumi.Input<IngressRuleArgs>[]>;
  /**
   * Take over a container of this name that another stack or resource made (its owner is recorded
   * on the host). Ownerless containers and this resource's own are taken over without it. @default false
   */
  adopt?: pulumi.Input<boolean>;
  /**
   * How a change of `host` to another machine (or prefix) moves the container: "cold" stops it,
   * copies its writable layer and starts it there; "live" checkpoints and restores it with CRIU
   * (refused at preview where a host cannot); "live-or-cold" falls back to cold with a warning.
   * @default "cold"
   */
  migration?: pulumi.Input<"cold" | "live" | "live-or-cold">;
  /**
   * When the host it moves from cannot be reached: "fail" naming the host, or "recreate": created
   * afresh (empty) on the new host, the old copy removed when its host answers again. @default "fail"
   */
  onSourceLost?: pulumi.Input<"fail" | "recreate">;
  /**
   * A bound this container shares with a group (a ContainerSet sets it on its replicas): at most
   * `maxUnavailable` of `group` are down at once, within one up, for a replacement, a restart or a
   * move; the others wait for one to finish. Never part of the diff. @default not bounded
   */
  rolling?: pulumi.Input<{ group: string; maxUnavailable: number }>;
}

/** The container's last move between hosts (`lastMigration`). */
export type ContainerMigration = MigrationRecord;

/** What the container's cgroup has used (`usage`, with `reportUsage`). */
export type ContainerUsage = Usage;

/** An isolated partition of the host's kernel, run by its OCI runtime and kept as declared. */
export class Container extends pulumi.CustomResource {
  declare readonly limits: pulumi.Output<pulumi.Unwrap<LimitsArgs>>;
  declare readonly runtimeId: pulumi.Output<string>;
  declare readonly runtime: pulumi.Output<string>;
  /** As the runtime reports it; "missing" when the container is gone from the host. */
  declare readonly status: pulumi.Output<"running" | "stopped" | "created" | "paused" | "missing">;
  /** Host pid of the container's init (0 when not running). */
  declare readonly pid: pulumi.Output<number>;
  declare readonly startedAt: pulumi.Output<string>;
  /** cgroup path below the host's prefix. */
  declare readonly cgroupPath: pulumi.Output<string>;
  declare readonly bundlePath: pulumi.Output<string>;
  /** Host path of the container's stdout/stderr log. */
  declare readonly logPath: pulumi.Output<string>;
  /** Read from the kernel at create, update and refresh when `reportUsage` is set; null otherwise. */
  declare readonly usage: pulumi.Output<ContainerUsage | null>;
  /** Address on each network, by network name (null while the kernel shows none). */
  declare readonly addresses: pulumi.Output<Record<string, string | null>>;
  /** Address on the first network (null without one). */
  declare readonly address: pulumi.Output<string | null>;
  /** IPv6 address on the first network when it is dual-stack (null otherwise). */
  declare readonly address6: pulumi.Output<string | null>;
  /**
   * Facets of the running init's security that the kernel (/proc/<pid>/status, uid_map) shows
   * otherwise than declared: "capabilities", "seccomp", "no_new_privs", "uid_map". Empty when it
   * runs as declared; the next up restarts it from the declaration.
   */
  declare readonly securityDrift: pulumi.Output<string[]>;
  /** Its last migration between hosts; null until it moves. */
  declare readonly lastMigration: pulumi.Output<ContainerMigration | null>;
  /** Copies left on hosts that could not be reached when it moved (onSourceLost: "recreate"); removed when they answer. */
  declare readonly leftBehind: pulumi.Output<{ connection: Connection; prefix: string; machineId: string | null; name: string }[]>;

  constructor(name: string, args: ContainerArgs, opts?: pulumi.CustomResourceOptions) {
    const h = hostInput(args.host, opts);
    const parent = args.parent instanceof ResourceLimits ? args.parent.path : args.parent;
    const outputs = {
      runtimeId: undefined,
      runtime: undefined,
      status: undefined,
      pid: undefined,
      startedAt: undefined,
      cgroupPath: undefined,
      bundlePath: undefined,
      logPath: undefined,
      usage: undefined,
      addresses: undefined,
      address: undefined,
      address6: undefined,
      securityDrift: undefined,
      lastMigration: undefined,
      leftBehind: undefined,
    };
    // A Network given as such becomes its ref: identity known at preview, and the dependency.
    const networks = Array.isArray(args.networks)
      ? args.networks.map((n) => (n && typeof n === "object" && "network" in n && n.network instanceof Network ? { ...n, network: n.network.ref } : n))
      : args.networks;
    const restore = quietStacks();
    try {
      super(
        ...ksliceArgs(
          "container",
          name,
          {
            ...args,
            host: h.host,
            name: args.name ?? name,
            parent,
            networks,
            ...outputs,
            // env values are secret in state even when given as plain text (inputs are stored as given)
            env: args.env === undefined ? undefined : pulumi.secret(args.env),
            owner: ownerInput(name, "Container", opts),
            // the parent's declared limits, for check at preview (dropped by check, never stored)
            parentLimits: args.parent instanceof ResourceLimits ? args.parent.declaredLimits : undefined,
            parentDisk: args.parent instanceof ResourceLimits ? args.parent.declaredDisk : undefined,
            // the Host's defaults, for check to apply where this container declares none (never stored as such)
            hostDefaults: args.host instanceof Host ? args.host.declaredDefaults : undefined,
          },
          { ...h.opts, additionalSecretOutputs: [...(h.opts.additionalSecretOutputs ?? []), ...containerKind.secret] },
          "Container",
        ),
      );
    } finally {
      restore();
    }
  }
}
