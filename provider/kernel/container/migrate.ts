import { shellQuote as q, type Transport } from "../../transport/transport";
import { durably } from "../durable";
import { pauseLines, type PauseHook } from "../transaction";
import { diskImage, diskMount } from "./disk";
import { ensureRootfsMounted } from "./rootfs";
import { rangeSize } from "./uid-ranges";

/**
 * Scripts of a container's migration between hosts (kernel/container/move.ts runs them, reconcile/container/move.ts orders them).
 * The writable layer (the overlay's upper dir) moves as a GNU tar stream: numeric owners, xattrs
 * (all namespaces: overlay's whiteouts and opaque dirs are trusted.overlay.*) and ACLs intact.
 */
/** Sets $u to where the bundle's upper and work dirs are: the bundle, or its disk image's mount (disk.ts). */
export const upperRoot = (bundle: string) => `u=${q(bundle)}; [ -f ${q(diskImage(bundle))} ] && u=${q(diskMount(bundle))}`;

export const tarFlags = ["--xattrs", "--xattrs-include='*'", "--acls", "--numeric-owner"].join(" ");

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
export function archiveUpperScript(bundle: string, shift?: { from: number; to: number }, phase: ArchivePhase = { kind: "whole" }): string {
  const flags = [tarFlags, ...phaseFlags(phase)].join(" ");
  // a running writer changes and removes files under tar: its exit 1 ("some files differ") is
  // expected then, and what changed goes again in the final phase
  const tar = (maps: string) =>
    phase.kind === "precopy"
      ? `tar ${flags}${maps} -cf - .; rc=$?; [ $rc -le 1 ] || exit $rc`
      : phase.kind === "changes"
        ? `tar ${flags}${maps} --no-recursion --null -T "$list" -cf -`
        : `exec tar ${flags}${maps} -cf - .`;
  const changes = phase.kind === "changes";
  // one trap for every temporary file (and the target's manifest, used once)
  const temps = [...(changes ? [`"$list"`, `"$there"`] : []), ...(shift && shift.from !== shift.to ? [`"$m"`] : [])];
  const head = [
    `${upperRoot(bundle)}; cd "$u/upper" || exit 1`,
    ...(changes ? [`there=${q(targetManifestFile(bundle))}`, `list=$(mktemp) || exit 1`] : []),
    ...(temps.length ? [`trap 'rm -f ${temps.join(" ")}' EXIT`] : []),
    ...(changes ? changedListLines(bundle, phase.since) : []),
  ];
  if (!shift || shift.from === shift.to) return [...head, tar("")].join("\n");
  const d = shift.to - shift.from;
  return [
    ...head,
    `m=$(mktemp) || exit 1`,
    // every id in use, owners and groups alike: one map serves both
    `find . -xdev -printf '%U\\n%G\\n' | sort -un | awk -v lo=${shift.from} -v hi=${shift.from + rangeSize} -v d=${d} '$1 >= lo && $1 < hi { print "+" $1 " +" ($1 + d) }' > "$m" || exit 1`,
    tar(` --owner-map="$m" --group-map="$m"`),
  ].join("\n");
}

/**
 * Which part of the upper dir an archive holds. `whole`: all of it, the container stopped.
 * `precopy`: all of it while the container still runs (files may change under tar). `changes`:
 * the container stopped again, what the pruned target lacks or holds stale (changedListLines).
 */
export type ArchivePhase = { kind: "whole" } | { kind: "precopy" } | { kind: "changes"; since: number };

function phaseFlags(phase: ArchivePhase): string[] {
  if (phase.kind === "precopy") return ["--ignore-failed-read", "--warning=no-file-changed", "--warning=no-file-removed", "--warning=no-file-shrank"];
  return [];
}

/** Where the target's manifest waits on the source, between the two pipes of the changes phase. */
export const targetManifestFile = (bundle: string): string => `${bundle}/migrate-target.list`;

/**
 * Lines (run in the upper dir) that write to "$list" the paths the changes phase sends, one
 * entry each (tar --no-recursion): every directory (its metadata); every other path whose mtime
 * or ctime is at or after `since` (epoch seconds on the source's clock, read before the
 * pre-copy; ctime cannot be set from inside, so a chmod, chown, xattr, link or a write that put
 * its mtime back counts); and every path the target's manifest lacks, which is how what a
 * renamed directory holds (its files keep their times) is found.
 */
function changedListLines(bundle: string, since: number): string[] {
  // "$there" is set by the caller: the target's manifest, kept by keepTargetManifestScript
  const at = `@${Math.floor(since)}`;
  return [
    `[ -f "$there" ] || { echo "the target's manifest ${targetManifestFile(bundle)} is missing" >&2; exit 1; }`,
    `{ find . -mindepth 1 -type d -print0`,
    `  find . -mindepth 1 ! -type d \\( -newermt ${at} -o -newerct ${at} \\) -print0`,
    `  find . -mindepth 1 -printf '%y %p\\0' | LC_ALL=C sort -z | LC_ALL=C comm -z -23 - "$there" | sed -z 's/^. //'`,
    `} | LC_ALL=C sort -zu > "$list" || exit 1`,
  ];
}

/** Keeps the target's manifest (stdin) on the source for the changes phase's archive. */
export function keepTargetManifestScript(bundle: string): string {
  const f = q(targetManifestFile(bundle));
  return `cat > ${f}.tmp && mv -f ${f}.tmp ${f}`;
}

/** Every path of the upper dir with its type (`f ./a`, `d ./b`), NUL-separated and sorted bytewise: what a pruned copy must hold. */
export function upperManifestScript(bundle: string): string {
  return `${upperRoot(bundle)}; cd "$u/upper" || exit 1\nfind . -mindepth 1 -printf '%y %p\\0' | LC_ALL=C sort -z`;
}

/**
 * Removes from the target's (unmounted) upper dir every path that the source's manifest on stdin
 * does not list with the same type: files deleted after the pre-copy, and paths whose type changed
 * (a file that became a directory or a whiteout), before the changed files are unpacked over it.
 */
export function pruneUpperScript(bundle: string): string {
  const b = q(bundle);
  return [
    `if mountpoint -q ${b}/rootfs; then umount ${b}/rootfs || exit 1; fi`,
    `${upperRoot(bundle)}; cd "$u/upper" || exit 1`,
    `src=$(mktemp) && here=$(mktemp) || exit 1; trap 'rm -f "$src" "$here"' EXIT`,
    `cat > "$src" || exit 1`,
    `find . -mindepth 1 -printf '%y %p\\0' | LC_ALL=C sort -z > "$here" || exit 1`,
    `LC_ALL=C comm -z -13 "$src" "$here" | sed -z 's/^. //' | xargs -0r rm -rf -- || exit 1`,
  ].join("\n");
}

/**
 * Replaces the (fresh, never started) upper dir of a bundle with the tar stream on stdin, then
 * mounts the rootfs again over it: overlayfs must not see its upper change while mounted.
 */
export function restoreUpperScript(bundle: string, lower: string, hook?: PauseHook, phase: RestorePhase = "whole"): string {
  const b = q(bundle);
  return [
    `if mountpoint -q ${b}/rootfs; then umount ${b}/rootfs || exit 1; fi`,
    upperRoot(bundle),
    // the changes go over the pre-copy (pruned first); the other phases start from an empty upper
    ...(phase === "changes" ? [`rm -rf "$u/work"`] : [`rm -rf "$u/upper" "$u/work" && mkdir "$u/upper" || exit 1`]),
    // a full disk shows in tar's stderr as ENOSPC or, when its last write was short, only as
    // "Wrote only N of M bytes": a small write beside it tells which (free counts mislead on ext4,
    // whose statfs counts blocks it keeps for itself as free)
    `tar -C "$u/upper" ${tarFlags} -xpf - || {`,
    `  if head -c 65536 /dev/zero 2>/dev/null > "$u/.space-probe"; then why=""; else why=": No space left on device (a 64 KiB write to its filesystem fails too)"; fi`,
    `  rm -f "$u/.space-probe"`,
    `  echo "tar could not unpack the writable layer into ${bundle}/upper$why" >&2`,
    `  exit 1`,
    `}`,
    // the pre-copy stays unmounted and unsynced: the final phase follows, and it syncs
    ...(phase === "precopy"
      ? // test pause point "precopy": the layer copied while the source still runs, nothing recorded yet
        pauseLines("precopy", hook)
      : [
          // the copy on disk before the source's is removed: a syncfs, once per move (durable.ts)
          `sync -f "$u/upper" || { echo "sync of the unpacked writable layer in ${bundle}/upper failed" >&2; exit 1; }`,
          // test pause point "copy": the layer unpacked, the rootfs not mounted again, the copy not reported
          ...pauseLines("copy", hook),
          ensureRootfsMounted(bundle, lower),
        ]),
  ].join("\n");
}

/** `whole` and `precopy` replace the upper dir; `changes` unpacks over the pruned pre-copy, then syncs and mounts. */
export type RestorePhase = "whole" | "precopy" | "changes";

/**
 * Whether the host can checkpoint and restore a container with `runtime`: prints "ok", or one line
 * saying why not (criu missing, `criu check` failing, no iptables-restore, crun built without CRIU).
 * criu locks a dumped container's network namespace with iptables-restore by default; without it a
 * runc checkpoint fails (criu 3.17 in the lab VMs: "Locking network failed: iptables-restore
 * returned -1"), and `--network-lock skip` only exists from criu 3.19.
 */
export function liveSupportScript(runtime: "runc" | "crun"): string {
  return [
    `command -v criu >/dev/null 2>&1 || { echo "criu is not installed"; exit 0; }`,
    `out=$(criu check 2>&1) || { echo "criu check failed: $(printf '%s' "$out" | grep -v '^$' | tail -n 2 | tr '\\n' ' ')"; exit 0; }`,
    `command -v iptables-restore >/dev/null 2>&1 || { echo "iptables-restore is missing (criu locks a dumped container's network with it): install iptables"; exit 0; }`,
    ...(runtime === "crun"
      ? [`crun --version 2>/dev/null | grep -q '+CRIU' || { echo "crun was built without CRIU (crun --version does not show +CRIU)"; exit 0; }`]
      : []),
    `echo ok`,
  ].join("\n");
}

/**
 * A migration's progress, kept in the target's bundle (`migration.json`, removed with the bundle)
 * so that an up after an interruption can tell a move that finished from one to resume
 * (reconcile/container/move-records.ts gives it its shape). One command, written to a temporary file
 * and renamed (a reader sees the old record or the new one, never half of one), then synced.
 */
export const moveRecordFile = (bundle: string): string => `${bundle}/migration.json`;

export async function writeMoveRecord(t: Pick<Transport, "run">, bundle: string, record: object): Promise<void> {
  const file = q(moveRecordFile(bundle));
  await t.run(["sh", "-c", durably(`cat > ${file}.tmp && mv -f ${file}.tmp ${file}`, [moveRecordFile(bundle)])], {
    input: JSON.stringify(record),
    timeoutMs: 30_000,
  });
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

/** The host's clock in epoch seconds: what a pre-copy's changes are measured from (read on the source). */
export async function hostClock(t: Pick<Transport, "run">): Promise<number> {
  return Number((await t.run(["date", "+%s"], { timeoutMs: 30_000 })).stdout.trim());
}

/** Bytes of a container's writable layer (its upper, in the bundle or its disk image): what a migration copies. */
export async function upperBytes(t: Pick<Transport, "run">, bundle: string): Promise<number> {
  return Number((await t.run(["sh", "-c", upperSizeScript(bundle)], { timeoutMs: 120_000 })).stdout.trim()) || 0;
}

/**
 * runc's checkpoint and restore option that leaves the network namespace's contents out of the
 * images and restores into a new, empty one (runc 1.1 sets it whatever the command line says; said
 * here so that it does not depend on that): the container's veth is not criu's to dump, kslice
 * attaches the networks anew on the target. Not for crun (no such option).
 */
export const emptyNetFlag = " --empty-ns network";

/** Where a live migration keeps its checkpoint images in a bundle (on both hosts): `pre1`… (the pre-dump rounds) and `final`. */
export const checkpointDir = (bundle: string): string => `${bundle}/checkpoint`;

/** A directory of checkpoint images: a pre-dump round's (each the parent of the next) or the final dump's. */
export type ImagesPart = `pre${number}` | "final";

/** Shell that prints the end of criu's log in `dir` (its errors and warnings) on stderr. */
const criuLogTail = (dir: string, log: string) => `{ echo "criu's ${log} ends:"; grep -E 'Error|Warn' ${dir}/${log} 2>/dev/null | tail -n 12; } >&2`;

/**
 * A live migration's pre-dump round `round` (from 1) on the source: runc checkpoint --pre-dump
 * writes into `checkpoint/pre<round>` the container's memory (round 1) or the pages written since
 * the round before (its parent), while it goes on running; criu tracks the pages written after it.
 * Round 1 removes any earlier images first. Prints the bytes of the round's pages.
 */
export function preDumpScript(rt: string, bundle: string, id: string, round: number, emptyNet = emptyNetFlag): string {
  const d = q(checkpointDir(bundle));
  const dir = `${d}/pre${round}`;
  const parent = round > 1 ? ` --parent-path ../pre${round - 1}` : "";
  return [
    round === 1 ? `rm -rf ${d} && mkdir -p ${dir} || exit 1` : `rm -rf ${dir} && mkdir ${dir} || exit 1`,
    `${rt} checkpoint --pre-dump${emptyNet} --image-path ${dir}${parent} ${q(id)} </dev/null >/dev/null 2>${dir}/runc.err || { cat ${dir}/runc.err >&2; ${criuLogTail(dir, "dump.log")}; exit 1; }`,
    `cat ${dir}/pages-*.img 2>/dev/null | wc -c`,
  ].join("\n");
}

/**
 * A live migration's final dump on the source, the container frozen for it: the pages written
 * since the last pre-dump round (`rounds`, its parent) into `checkpoint/final`, after which runc
 * kills and deletes the container. Under the bundle's lock with the "stopped" mark first, so the
 * supervisor does not restart what the dump ended; a failed dump leaves it running (criu thaws it)
 * and unmarked.
 */
export function finalDumpScript(rt: string, bundle: string, id: string, rounds: number, emptyNet = emptyNetFlag): string {
  const d = q(checkpointDir(bundle));
  const b = q(bundle);
  return [
    `exec 9>>${q(`${bundle}/lock`)} && flock -w 60 9 || { echo "timed out waiting for the lock of container ${id}" >&2; exit 1; }`,
    `: > ${b}/stopped && rm -rf ${d}/final && mkdir ${d}/final || exit 1`,
    `if ! ${rt} checkpoint${emptyNet} --image-path ${d}/final --parent-path ../pre${rounds} ${q(id)} </dev/null >/dev/null 2>${d}/final/runc.err 9>&-; then`,
    `  cat ${d}/final/runc.err >&2; ${criuLogTail(`${d}/final`, "dump.log")}`,
    `  rm -f ${b}/stopped; exit 1`,
    `fi`,
  ].join("\n");
}

/** Writes the checkpoint images `part` (a pre-dump round's or the final) of a bundle as a tar stream on stdout. */
export const archiveImagesScript = (bundle: string, part: ImagesPart): string => `cd ${q(checkpointDir(bundle))} && exec tar -cf - ${part}`;

/** Unpacks checkpoint images (stdin) into a bundle's checkpoint dir. */
export const unpackImagesScript = (bundle: string): string => `mkdir -p ${q(checkpointDir(bundle))} && exec tar -C ${q(checkpointDir(bundle))} -xf -`;
