import type { ContainerArgs } from "../../../schema/container";
import type { InputFailure } from "../../../schema/issues";
import { formatSize, readableSize } from "../../../schema/units";
import { growDisk, hostDiskMissing, readDisk, readDiskRoom, resizeDiskOffline, type DiskObserved, type DiskRoom } from "../../kernel/container/disk";
import type { HostLayout } from "../../kernel/container/layout";
import { connectionKey } from "../../kernel/connection";
import type { Transport } from "../../transport/transport";
import { showSize } from "../disk-budget";
import { declaredTogether } from "../ownership";

/**
 * A container's disk limit (`disk`, kernel/container/disk.ts): what reconcile decides of it. The
 * image's filesystem is what counts: a file grown by hand without resize2fs gives nothing, and a
 * filesystem grown by hand gives the tenant more than declared.
 */

/** Adding or removing the limit, or other inodes, makes a new writable layer: a replacement. */
export function diskReplaces(o: ContainerArgs, a: ContainerArgs): string[] {
  if (!o.disk !== !a.disk || o.disk?.inodes !== a.disk?.inodes) return ["disk"];
  return [];
}

/** The filesystem size `max` formats to: whole blocks. */
const wanted = (max: number, blockSize: number) => Math.floor(max / blockSize) * blockSize;

/**
 * What the declared limit needs of the kernel's disk: nothing, a live grow (the image or its
 * filesystem smaller than declared), or an offline resize (a filesystem larger than declared: a
 * shrink, or one grown by hand), which stops the container for its duration.
 */
export function diskChange(a: ContainerArgs, d: DiskObserved): "none" | "live" | "offline" {
  if (!a.disk || d.imageBytes === undefined) return "none";
  if (!d.fs) return d.imageBytes === a.disk.max ? "none" : "offline";
  const want = wanted(a.disk.max, d.fs.blockSize);
  if (d.fs.bytes > want) return "offline";
  if (d.fs.bytes < want || d.imageBytes !== a.disk.max) return "live";
  return "none";
}

/** The disk as the kernel holds it, when one is declared; drift is any change diskChange names. */
export async function diskDrift(t: Transport, bundle: string, a: ContainerArgs): Promise<boolean> {
  if (!a.disk) return false;
  return diskChange(a, await readDisk(t, bundle)) !== "none";
}

/**
 * Brings the disk to the declaration. A live grow keeps the init; an offline resize runs `stop`
 * first and leaves the container stopped (the caller's start follows). Returns whether it stopped it.
 */
export async function applyDisk(t: Transport, bundle: string, a: ContainerArgs, running: boolean, stop: () => Promise<void>): Promise<boolean> {
  if (!a.disk) return false;
  const d = await readDisk(t, bundle);
  let change = diskChange(a, d);
  if (change === "live") {
    // an online resize2fs needs CAP_SYS_RESOURCE (EXT4_IOC_RESIZE_FS), which root lacks on some
    // hosts (this build machine): there the grow is offline too, a restart
    const refused = await growDisk(t, bundle, a.disk.max).then(
      () => false,
      (e: Error) => {
        if (/Permission denied to resize/.test(e.message)) return true;
        throw e;
      },
    );
    if (!refused) return false;
    change = "offline";
  }
  if (change !== "offline") return false;
  if (running) await stop();
  await resizeDiskOffline(t, bundle, a.disk.max);
  return running;
}

/**
 * At check: the host has what the method needs (loop devices, e2fsprogs), and a smaller limit
 * still holds what the container's writable layer uses now.
 */
export async function diskAdmission(t: Transport, bundle: string, a: ContainerArgs, existing: boolean): Promise<InputFailure[]> {
  if (!a.disk) return [];
  const missing = await hostDiskMissing(t);
  if (missing.length) return [{ property: "disk", reason: `host ${t.target} lacks what disk limits need: ${missing.join("; ")}` }];
  if (!existing) return [];
  const d = await readDisk(t, bundle);
  if (d.fs && d.imageBytes !== undefined && a.disk.max < d.fs.used) {
    return [
      {
        property: "disk.max",
        reason: `got ${a.disk.max} bytes (${formatSize(a.disk.max)}); container ${a.name} uses ${d.fs.used} bytes of its disk now: a limit below its usage cannot hold it`,
      },
    ];
  }
  return [];
}

/** The unwritten part of the prefix's images but `name`'s: room the host has promised them. */
export function promisedBytes(room: DiskRoom, name: string): number {
  let promised = 0;
  for (const [n, img] of room.images) if (n !== name) promised += Math.max(0, img.size - img.allocated);
  return promised;
}

/**
 * At check: a new image, or a larger one, fits in the host's free space. The images are sparse, so
 * the host could promise more than it has; kslice does not: the unwritten part of the prefix's
 * other images (size minus the blocks they take) counts as taken, and so does what the other
 * containers of this program are about to make there, so each `disk.max` stays a real guarantee
 * (every tenant can fill its image without the host's filesystem running out first). Not counted:
 * other prefixes' images and other writers of that filesystem, which kslice cannot hold to anything.
 * An image that keeps its size needs nothing new, so a host that filled up later does not refuse
 * the containers already there. `key` names the container across re-checks in this program.
 */
export function diskRoomShortfall(a: ContainerArgs, target: string, stateDir: string, room: DiskRoom, others: number): InputFailure[] {
  if (!a.disk) return [];
  const mine = room.images.get(a.name);
  if (mine && a.disk.max <= mine.size) return [];
  const promised = promisedBytes(room, a.name);
  const need = a.disk.max - (mine?.allocated ?? 0);
  const left = room.avail - promised - others;
  if (need <= left) return [];
  const parts = [
    promised ? `${readableSize(promised)} of it promised to the unwritten part of the prefix's other disk images` : "",
    others ? `${readableSize(others)} to the other new disk images of this program there` : "",
  ].filter(Boolean);
  return [
    {
      property: "disk.max",
      reason:
        `got ${showSize(a.disk.max)}; host ${target} has ${readableSize(room.avail)} free under ${stateDir}${room.dir !== stateDir ? ` (its filesystem, measured at ${room.dir})` : ""}${parts.length ? ` (${parts.join(", ")}: ${readableSize(Math.max(0, left))} left)` : ""}, ` +
        `and the image needs ${readableSize(need)}: ${readableSize(need - left)} short`,
    },
  ];
}

/** diskRoomShortfall on the host: one read of its free space and the prefix's images. */
export async function diskRoomAdmission(t: Transport, layout: HostLayout, a: ContainerArgs, key: string): Promise<InputFailure[]> {
  if (!a.disk) return [];
  const room = await readDiskRoom(t, layout);
  const mine = room.images.get(a.name);
  // what this container adds to the host's promises: a new image whole, a larger one its growth
  const extra = Math.max(0, a.disk.max - (mine?.size ?? 0));
  const scope = `disk room ${connectionKey(a.host.connection)}/${a.host.prefix}`;
  const all = declaredTogether(scope, key, String(extra));
  let others = 0;
  for (const [k, v] of all) if (k !== key) others += Number(v);
  return diskRoomShortfall(a, t.target, layout.stateDir, room, others);
}

/** Usage against the limit, for outputs and `ps`. */
export interface DiskUsage {
  max: number;
  used: number;
  inodes: number;
  inodesUsed: number;
}

export async function diskUsage(t: Transport, bundle: string, a: ContainerArgs): Promise<DiskUsage | undefined> {
  if (!a.disk) return undefined;
  const d = await readDisk(t, bundle);
  return d.fs ? { max: d.fs.size, used: d.fs.used, inodes: d.fs.inodes, inodesUsed: d.fs.inodesUsed } : undefined;
}
