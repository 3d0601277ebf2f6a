import { shellQuote as q, type Transport } from "../../transport/transport";
import { durably } from "../durable";
import { pauseLines, type PauseHook } from "../transaction";
import { diskImage, diskMount } from "./disk";
import { ensureRootfsMounted } from "./rootfs";
import { rangeSize } from "./uid-ranges";

/**
 * Scripts of a container's migration between hosts (reconcile/container-migrate.ts drives them).
 * The writable layer (the overlay's upper dir) moves as a GNU tar stream: numeric owners, xattrs
 * (all namespaces: overlay's whiteouts and opaque dirs are trusted.overlay.*) and ACLs intact.
 */
/** Sets $u to where the bundle's upper and work dirs are: the bundle, or its disk image's mount (disk.ts). */
const upperRoot = (bundle: string) => `u=${q(bundle)}; [ -f ${q(diskImage(bundle))} ] && u=${q(diskMount(bundle))}`;

const tarFlags = ["--xattrs", "--xattrs-include='*'", "--acls", "--numeric-owner"].join(" ");

/** Bytes in the upper dir (for the progress line), or 0 when it cannot be told. */
export function upperSizeScript(bundle: string): string {
  return `${upperRoot(bundle)}; du -sb "$u/upper" 2>/dev/null | cut -f1 || echo 0`;
}

/**
 * Writes the upper dir as a tar stream on stdout. With `shift` (a user-namespaced container whose
 * range differs on the target) every owner and group inside the source's range [from, from+65536)
 * is written as the same id of the target's range, by tar's own --owner-map/--group-map: modes,
 * setuid bits and file capabilities stay as they are (a chown afterwards would clear them).
 */
export function archiveUpperScript(bundle: string, shift?: { from: number; to: number }): string {
  const upper = `${upperRoot(bundle)}; cd "$u/upper"`;
  if (!shift || shift.from === shift.to) return `${upper} || exit 1\nexec tar ${tarFlags} -cf - .`;
  const d = shift.to - shift.from;
  return [
    `${upper} || exit 1`,
    `m=$(mktemp) || exit 1; trap 'rm -f "$m"' EXIT`,
    // every id in use, owners and groups alike: one map serves both
    `find . -xdev -printf '%U\\n%G\\n' | sort -un | awk -v lo=${shift.from} -v hi=${shift.from + rangeSize} -v d=${d} '$1 >= lo && $1 < hi { print "+" $1 " +" ($1 + d) }' > "$m" || exit 1`,
    `tar ${tarFlags} --owner-map="$m" --group-map="$m" -cf - .`,
  ].join("\n");
}

/**
 * Replaces the (fresh, never started) upper dir of a bundle with the tar stream on stdin, then
 * mounts the rootfs again over it: overlayfs must not see its upper change while mounted.
 */
export function restoreUpperScript(bundle: string, lower: string, hook?: PauseHook): string {
  const b = q(bundle);
  return [
    `if mountpoint -q ${b}/rootfs; then umount ${b}/rootfs || exit 1; fi`,
    upperRoot(bundle),
    `rm -rf "$u/upper" "$u/work" && mkdir "$u/upper" || exit 1`,
    // a full disk shows in tar's stderr as ENOSPC or, when its last write was short, only as
    // "Wrote only N of M bytes": a small write beside it tells which (free counts mislead on ext4,
    // whose statfs counts blocks it keeps for itself as free)
    `tar -C "$u/upper" ${tarFlags} -xpf - || {`,
    `  if head -c 65536 /dev/zero 2>/dev/null > "$u/.space-probe"; then why=""; else why=": No space left on device (a 64 KiB write to its filesystem fails too)"; fi`,
    `  rm -f "$u/.space-probe"`,
    `  echo "tar could not unpack the writable layer into ${bundle}/upper$why" >&2`,
    `  exit 1`,
    `}`,
    // the copy on disk before the source's is removed: a syncfs, once per move (durable.ts)
    `sync -f "$u/upper" || { echo "sync of the unpacked writable layer in ${bundle}/upper failed" >&2; exit 1; }`,
    // test pause point "copy": the layer unpacked, the rootfs not mounted again, the copy not reported
    ...pauseLines("copy", hook),
    ensureRootfsMounted(bundle, lower),
  ].join("\n");
}

/**
 * Whether the host can checkpoint and restore a container with `runtime`: prints "ok", or one line
 * saying why not (criu missing, `criu check` failing, crun built without CRIU).
 */
export function liveSupportScript(runtime: "runc" | "crun"): string {
  return [
    `command -v criu >/dev/null 2>&1 || { echo "criu is not installed"; exit 0; }`,
    `out=$(criu check 2>&1) || { echo "criu check failed: $(printf '%s' "$out" | grep -v '^$' | tail -n 2 | tr '\\n' ' ')"; exit 0; }`,
    ...(runtime === "crun" ? [`crun --version 2>/dev/null | grep -q '+CRIU' || { echo "crun was built without CRIU (crun --version does not show +CRIU)"; exit 0; }`] : []),
    `echo ok`,
  ].join("\n");
}

/**
 * A migration's progress, kept in the target's bundle (`migration.json`, removed with the bundle)
 * so that an up after an interruption can tell a move that finished from one to resume
 * (reconcile/container-migrate.ts gives it its shape). One command, written to a temporary file
 * and renamed (a reader sees the old record or the new one, never half of one), then synced.
 */
export const moveRecordFile = (bundle: string): string => `${bundle}/migration.json`;

export async function writeMoveRecord(t: Pick<Transport, "run">, bundle: string, record: object): Promise<void> {
  const file = q(moveRecordFile(bundle));
  await t.run(["sh", "-c", durably(`cat > ${file}.tmp && mv -f ${file}.tmp ${file}`, [moveRecordFile(bundle)])], { input: JSON.stringify(record), timeoutMs: 30_000 });
}

/** The target bundle's kslice.json (its owner) and migration record as written, in one read; undefined where missing. */
export async function readMoveRecord(t: Pick<Transport, "readFiles">, bundle: string): Promise<{ meta: string | undefined; record: unknown }> {
  const [meta, record] = await t.readFiles([`${bundle}/kslice.json`, moveRecordFile(bundle)]);
  try {
    return { meta, record: record === undefined ? undefined : JSON.parse(record) };
  } catch {
    return { meta, record: undefined };
  }
}
