import { z } from "zod";
import { hostRef, cgroupName, cgroupPath } from "./resource-limits";
import { limits } from "./limits";
import { size } from "./units";
import { checkNetworkFields, networkFields } from "./container-network";
import { sysctls } from "./sysctl";
import { disk } from "./disk";

export { disk, diskMin, type Disk } from "./disk";

const absPath = z.string().regex(/^\/\S*$/, 'expected an absolute path like "/data"');

const rootfsKinds = [
  z.strictObject({
    /** The host's busybox-static as a tiny rootfs: needs no network. */
    busybox: z.strictObject({}),
  }),
  z.strictObject({
    /** An existing directory on the host, used read-only below a private writable layer. */
    path: absPath,
  }),
  z.strictObject({
    /** A Debian suite built with mmdebstrap once per host and shared read-only. */
    debootstrap: z.strictObject({
      suite: z.string().regex(/^[a-z]+$/, 'expected a Debian suite like "bookworm"'),
      /** @default the host's first apt source, else http://deb.debian.org/debian */
      mirror: z.string().url().optional(),
      /** Extra packages. @default none */
      packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/)).default([]),
    }),
  }),
  z.strictObject({
    /** An OCI image layout on the host, unpacked with umoci once and shared read-only. */
    ociLayout: z.strictObject({ path: absPath, ref: z.string().min(1).default("latest") }),
  }),
] as const;

/** The rootfs kinds a template or path gives: what a backup's layer lies on. */
export const baseRootfs = z.union(rootfsKinds);

export const rootfs = z.union([
  ...rootfsKinds,
  z.strictObject({
    /**
     * A backup file on the container's host (`kslice backup`, or a Backup resource): the writable
     * layer is unpacked from it at create, its owners moved into this container's user-namespace
     * range. The file is checked (sha256 of every member) at preview; a corrupt or truncated one is
     * refused and nothing is created. Later changes of the file do not touch the container.
     */
    backup: z.strictObject({
      file: absPath,
      /** What the layer lies on. @default the rootfs recorded in the backup */
      rootfs: baseRootfs.optional(),
    }),
  }),
]);

export const mount = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("bind"),
    source: absPath,
    target: absPath,
    /** @default true */
    readOnly: z.boolean().default(true),
  }),
  z.strictObject({
    type: z.literal("tmpfs"),
    target: absPath,
    /** @default "64Mi" */
    size: size.default(64 * 2 ** 20),
  }),
]);

const capability = z
  .string()
  .transform((c) => c.toUpperCase().replace(/^(?!CAP_)/, "CAP_"))
  .pipe(z.string().regex(/^CAP_[A-Z_]+$/, 'expected a capability like "NET_ADMIN"'));

/**
 * A bound shared by a group of containers (a ContainerSet's replicas, which it sets): at most
 * `maxUnavailable` of the group are down at once for a replacement, a restart or a move within one
 * up. Never diffed: it says how changes are made, not what runs.
 */
export const rolling = z.strictObject({
  /** The group's name (the ContainerSet's). */
  group: z.string().min(1),
  /** How many of the group may be down at once. */
  maxUnavailable: z.number().int().min(1),
});

export const containerArgs = z
  .strictObject({
    host: hostRef,
    /** The container's name on the host (runtime id and cgroup name). @default the resource's name */
    name: cgroupName,
    /** The ResourceLimits path it is placed under. @default directly under the prefix */
    parent: cgroupPath.optional(),
    limits: limits.default({}),
    rootfs: rootfs.default({ busybox: {} }),
    /** The init process and its arguments. */
    command: z.array(z.string()).min(1),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"), z.string()).default({}),
    /** @default "/" */
    workingDir: absPath.default("/"),
    /** uid and gid inside the container. @default 0:0 */
    user: z.strictObject({ uid: z.number().int().min(0), gid: z.number().int().min(0) }).default({ uid: 0, gid: 0 }),
    /** @default the container's name */
    hostname: z
      .string()
      .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, "expected a host name")
      .optional(),
    mounts: z.array(mount).default([]),
    /**
     * Disk space and inodes of the writable layer, enforced by the kernel: an ext4 image of `max`
     * bytes per container, loop-mounted, holding the overlay's upper
     * (ARCHITECTURE.md, "Disk limits: why"). Growing `max` is live; a smaller `max` restarts it
     * with its files; other `inodes`, or adding or removing the limit, replace the container.
     * @default no limit: the writable layer shares the host's disk
     */
    disk: disk.optional(),
    /**
     * Sysctls of the container's own namespaces, as Docker's --sysctl: net.* (its network namespace),
     * kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* (IPC), kernel.domainname (UTS). Others would
     * change the host and are refused. Applied live; a removed one restarts the container. @default none
     */
    sysctls: sysctls.default({}),
    /**
     * The container's own /proc: /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps and
     * /sys/devices/system/cpu/online show its limits and its own uptime (the host's lxcfs, run by
     * kslice per prefix), not the host's. sysinfo(2) is not covered. A change restarts the container.
     * @default true
     */
    procViews: z.boolean().default(true),
    /** @default "running" */
    state: z.enum(["running", "stopped"]).default("running"),
    /** What happens when the init exits by itself. @default "no" */
    restartPolicy: z.enum(["no", "on-failure", "always"]).default("no"),
    /**
     * Read the container's usage (memory, CPU time, tasks, OOM kills) into the `usage` output at
     * create, update and refresh. Off by default: usage changes on every refresh, and a refresh of
     * an untouched stack should show nothing (`kslice ps` and `kslice top` show usage instead).
     * @default false
     */
    reportUsage: z.boolean().default(false),
    security: z
      .strictObject({
        /** Capabilities added to, or dropped from, Docker's default 14. */
        capAdd: z.array(capability).default([]),
        capDrop: z.array(capability).default([]),
        /** Run in a user namespace: the container's root is an unprivileged uid on the host. @default false */
        userNamespace: z.boolean().default(false),
        /** Mount the rootfs read-only. @default false */
        readOnlyRootfs: z.boolean().default(false),
        /** Docker's default allow-list seccomp profile, or "unconfined" for none. @default "default" */
        seccomp: z.enum(["default", "unconfined"]).default("default"),
      })
      .default({ capAdd: [], capDrop: [], userNamespace: false, readOnlyRootfs: false, seccomp: "default" }),
    /** Time between SIGTERM and SIGKILL when stopping (an init ignores SIGTERM unless it handles it). @default 10 */
    stopGraceSeconds: z.number().min(0).max(600).default(10),
    /** Log file cap; the oldest half is dropped when exceeded. @default "8Mi" */
    logMaxSize: size.default(8 * 2 ** 20),
    /** Take over a container of this name that another owner (stack or resource) made. @default false */
    adopt: z.boolean().default(false),
    /**
     * How a change of `host` to another machine (or prefix) moves the container: "cold" (stop, copy
     * its writable layer, start there), "live" (CRIU checkpoint and restore; refused at preview where
     * either host cannot), "live-or-cold" (live where possible, else cold with a warning saying why).
     * @default "cold"
     */
    migration: z.enum(["cold", "live", "live-or-cold"]).default("cold"),
    /**
     * When the host it moves from cannot be reached: "fail" (naming the host), or "recreate" (created
     * afresh on the new host without its data; the old copy is removed when that host answers again).
     * @default "fail"
     */
    onSourceLost: z.enum(["fail", "recreate"]).default("fail"),
    /** Set by a ContainerSet on its replicas: how many of them may be down at once. @default not bounded */
    rolling: rolling.optional(),
    ...networkFields,
  })
  .superRefine(checkNetworkFields);

export type ContainerArgs = z.output<typeof containerArgs>;
export type Rolling = z.output<typeof rolling>;
export type Rootfs = z.output<typeof rootfs>;
export type BaseRootfs = z.output<typeof baseRootfs>;
export type Mount = z.output<typeof mount>;
export type NetworkAttachment = ContainerArgs["networks"][number];
export type PublishedPort = ContainerArgs["ports"][number];
