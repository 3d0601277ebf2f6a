import { shellQuote as q, type Transport } from "../../transport/transport";

/**
 * A container's disk limit (ARCHITECTURE.md, "Disk limits: why"): a sparse ext4 image in its bundle
 * (`disk.img`), loop-mounted at `disk/`, holding the overlay's upper and work dirs. The kernel's
 * ext4 refuses a write past the image's size (ENOSPC) and a file past its inode table, and the
 * overlay's statfs is its upper's, so `df /` inside shows the image.
 */
export const diskImage = (bundle: string) => `${bundle}/disk.img`;
export const diskMount = (bundle: string) => `${bundle}/disk`;

/** What the method needs on a host; a missing one is named (one line each) by hostDiskScript. */
export const diskTools = ["mkfs.ext4", "losetup", "resize2fs", "e2fsck", "findmnt"];

/** Names what the host lacks for disk limits, one per line; nothing when it has it all. */
export function hostDiskScript(): string {
  return [
    `[ -e /dev/loop-control ] || echo "loop devices (/dev/loop-control is missing: load the loop module)"`,
    ...diskTools.map((t) => `command -v ${t} >/dev/null 2>&1 || echo "${t} (install e2fsprogs / util-linux)"`),
    `true`,
  ].join("\n");
}

/**
 * Mounts the image when it is not mounted (a create, a start after a reboot). `mount -o loop` sets
 * the loop device's autoclear flag, so the umount frees it; direct I/O then spares the page cache
 * the image's second copy and makes its synced writes faster.
 */
export function mountDiskScript(bundle: string): string {
  return mountDiskShell(q(bundle));
}

/** mountDiskScript for a bundle given as a shell word (`"$b"` in a loop over bundles). */
export function mountDiskShell(b: string): string {
  return [
    `if ! mountpoint -q ${b}/disk; then`,
    `  mkdir -p ${b}/disk && mount -o loop,noatime ${b}/disk.img ${b}/disk || { echo "cannot loop-mount the disk image "${b}/disk.img >&2; exit 1; }`,
    `  d=$(findmnt -no SOURCE ${b}/disk) && losetup --direct-io=on "$d" 2>/dev/null`,
    `fi`,
  ].join("\n");
}

/** Unmounts the image (its loop device goes with it: autoclear); idempotent. */
export function umountDiskScript(bundle: string): string {
  const m = q(diskMount(bundle));
  return `if mountpoint -q ${m}; then umount ${m} || { d=$(findmnt -no SOURCE ${m}); umount -l ${m}; [ -n "$d" ] && losetup -d "$d" 2>/dev/null; }; fi; true`;
}

/**
 * Makes the image (sparse: it takes the host's room only as it is written), formats it (no
 * reserved blocks; lazy inode tables and journal, so it is quick whatever its size), mounts it and
 * makes the upper and work dirs in it. `uidBase`: a user-namespaced container's root owns its upper.
 */
export function makeDiskScript(bundle: string, bytes: number, inodes: number | undefined, uidBase: number | undefined): string {
  const img = q(diskImage(bundle));
  const m = diskMount(bundle);
  return [
    `truncate -s ${Math.trunc(bytes)} ${img} || exit 1`,
    `out=$(mkfs.ext4 -q -F -m 0 ${inodes ? `-N ${Math.trunc(inodes)} ` : ""}-E lazy_itable_init=1,lazy_journal_init=1,nodiscard ${img} 2>&1) || { echo "mkfs.ext4 of ${diskImage(bundle)} failed: $out" >&2; exit 1; }`,
    mountDiskScript(bundle),
    `rmdir ${q(`${m}/lost+found`)} 2>/dev/null`,
    `mkdir -p ${q(`${m}/upper`)} ${q(`${m}/work`)} || exit 1`,
    ...(uidBase !== undefined ? [`chown ${uidBase}:${uidBase} ${q(`${m}/upper`)} || exit 1`] : []),
  ].join("\n");
}

/**
 * Grows the image live: the file, then the loop device's idea of its size (losetup -c), then the
 * mounted ext4 (resize2fs online). The container's processes keep running throughout.
 */
export function growDiskScript(bundle: string, bytes: number): string {
  const m = q(diskMount(bundle));
  return [
    `d=$(findmnt -no SOURCE ${m}) || { echo "the disk image of ${bundle} is not mounted" >&2; exit 1; }`,
    `truncate -s ${Math.trunc(bytes)} ${q(diskImage(bundle))} || exit 1`,
    `losetup -c "$d" || exit 1`,
    `out=$(resize2fs "$d" 2>&1) || { echo "resize2fs $d: $out" >&2; exit 1; }`,
  ].join("\n");
}

/**
 * Resizes the image with the container's rootfs unmounted (a shrink, or a repair of a filesystem
 * grown by hand): the overlay and the image unmounted, fsck (resize2fs requires it), the filesystem
 * then the file to `bytes`; the next start mounts it again. resize2fs refuses a size below what the
 * files need, and the error says so; the image is then left as it was.
 */
export function resizeOfflineScript(bundle: string, bytes: number): string {
  const r = q(`${bundle}/rootfs`);
  const img = q(diskImage(bundle));
  const k = Math.floor(bytes / 1024);
  return [
    `if mountpoint -q ${r}; then umount ${r} || exit 1; fi`,
    `if mountpoint -q ${q(diskMount(bundle))}; then umount ${q(diskMount(bundle))} || exit 1; fi`,
    // 0: clean, 1: errors fixed; above: it could not (its output says why)
    `out=$(e2fsck -f -p ${img} 2>&1); rc=$?; [ $rc -le 1 ] || { echo "e2fsck of ${diskImage(bundle)} (exit $rc): $out" >&2; exit 1; }`,
    `out=$(resize2fs ${img} ${k}K 2>&1) || { echo "resize2fs ${diskImage(bundle)} to ${k}K: $out" >&2; exit 1; }`,
    `truncate -s ${Math.trunc(bytes)} ${img} || exit 1`,
    mountDiskScript(bundle),
  ].join("\n");
}

/**
 * What the kernel holds of the disk: the image's size, whether it is mounted, the filesystem's own
 * size (superblock: block count × block size) and its statfs figures (what df inside shows). One
 * line: `<image bytes> <mounted 0|1> <fs bytes> <block size> <df size> <df used> <inodes> <inodes used>`.
 */
export function readDiskScript(bundle: string): string {
  const m = q(diskMount(bundle));
  return [
    `s=$(stat -c %s ${q(diskImage(bundle))} 2>/dev/null) || s=-`,
    `if mountpoint -q ${m}; then`,
    `  d=$(findmnt -no SOURCE ${m}); f=$(dumpe2fs -h "$d" 2>/dev/null | awk -F: '/^Block count/ {c=$2} /^Block size/ {b=$2} END {printf "%d %d", c*b, b}')`,
    `  set -- $(df -B1 --output=size,used,itotal,iused ${m} | tail -n1); echo "$s 1 $f $1 $2 $3 $4"`,
    `else echo "$s 0 - - - - - -"; fi`,
  ].join("\n");
}

export interface DiskObserved {
  /** The image file's size; undefined when there is none. */
  imageBytes: number | undefined;
  mounted: boolean;
  /** The mounted filesystem: its own size and block size, and statfs's figures (what df inside shows). */
  fs?: { bytes: number; blockSize: number; size: number; used: number; inodes: number; inodesUsed: number };
}

export function parseDisk(out: string): DiskObserved {
  const [s, mounted, ...f] = out.trim().split(/\s+/);
  const n = f.map(Number);
  return {
    imageBytes: s === undefined || s === "-" ? undefined : Number(s),
    mounted: mounted === "1",
    fs: mounted === "1" ? { bytes: n[0]!, blockSize: n[1]!, size: n[2]!, used: n[3]!, inodes: n[4]!, inodesUsed: n[5]! } : undefined,
  };
}

/** What the host lacks for disk limits (hostDiskScript): empty when nothing. */
export async function hostDiskMissing(t: Transport): Promise<string[]> {
  return (await t.run(["sh", "-c", hostDiskScript()])).stdout.split("\n").filter(Boolean);
}

export async function readDisk(t: Transport, bundle: string): Promise<DiskObserved> {
  return parseDisk((await t.run(["sh", "-c", readDiskScript(bundle)])).stdout);
}

export async function growDisk(t: Transport, bundle: string, bytes: number): Promise<void> {
  await t.run(["sh", "-c", growDiskScript(bundle, bytes)]);
}

export async function resizeDiskOffline(t: Transport, bundle: string, bytes: number): Promise<void> {
  await t.run(["sh", "-c", resizeOfflineScript(bundle, bytes)], { timeoutMs: 600_000 });
}

/**
 * The room for disk images on a host: the free bytes (`df -B1 --output=avail`, what an unprivileged
 * writer gets) of the filesystem holding `stateDir` (its nearest existing ancestor when the prefix
 * has no state yet), and each of the prefix's images under `containers` with its size and the bytes
 * it already takes (allocated blocks: the images are sparse). Lines: `dir <path>`, `avail <bytes>`,
 * then `img <container> <size> <allocated>`.
 */
export function diskRoomScript(stateDir: string, containers: string): string {
  return [
    `d=${q(stateDir)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done`,
    `echo "dir $d"`,
    `echo "avail $(df -B1 --output=avail "$d" | tail -n1 | tr -d ' ')"`,
    `for i in ${q(containers)}/*/disk.img; do [ -f "$i" ] || continue; n=\${i%/disk.img}; n=\${n##*/}; set -- $(stat -c '%s %b %B' "$i"); echo "img $n $1 $(($2 * $3))"; done`,
    `true`,
  ].join("\n");
}

export interface DiskRoom {
  /** The directory whose filesystem was measured. */
  dir: string;
  /** Free bytes there. */
  avail: number;
  /** The prefix's images: container name → image size and the bytes it takes on the host now. */
  images: Map<string, { size: number; allocated: number }>;
}

export function parseDiskRoom(out: string): DiskRoom {
  const room: DiskRoom = { dir: "", avail: 0, images: new Map() };
  for (const line of out.split("\n")) {
    const [k, a, b, c] = line.trim().split(/\s+/);
    if (k === "dir") room.dir = a ?? "";
    else if (k === "avail") room.avail = Number(a) || 0;
    else if (k === "img" && a) room.images.set(a, { size: Number(b) || 0, allocated: Number(c) || 0 });
  }
  return room;
}

/** The room for images under a prefix's state directory (diskRoomScript): one command. */
export async function readDiskRoom(t: Pick<Transport, "run">, layout: { stateDir: string; containers: string }): Promise<DiskRoom> {
  return parseDiskRoom((await t.run(["sh", "-c", diskRoomScript(layout.stateDir, layout.containers)])).stdout);
}
