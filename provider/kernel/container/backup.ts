import { shellQuote as q, type Transport } from "../../transport/transport";
import type { HostLayout } from "./layout";
import { tarFlags, upperRoot } from "./migrate";
import { rangeSize } from "./uid-ranges";

/**
 * A container's backup (ARCHITECTURE.md, "Backup and restore"): one plain tar file holding
 *   SHA256SUMS     sha256sum's own format, one line per member below
 *   backup.json    format, container, prefix, created, uidBase, layerBytes, frozenMs
 *   config.json    the bundle's OCI spec (the declaration the runtime runs; env included)
 *   kslice.json    the bundle's record (lower, owner, uid base, and the rootfs declaration when recorded)
 *   layer.tar.zst  the writable layer (overlay upper) as a GNU tar stream compressed with zstd,
 *                  owners container-relative (the source's user-namespace base taken off)
 * The outer tar stays uncompressed so a member can be read (and its sha256 checked) alone.
 */
export const backupFormat = "kslice-backup/1";
const members = ["backup.json", "config.json", "kslice.json", "layer.tar.zst"] as const;

export interface BackupManifest {
  format: string;
  container: string;
  prefix: string;
  created: string;
  /** The source's user-namespace base (its ids were taken off in the layer); absent: no user namespace. */
  uidBase?: number;
  /** Bytes of the compressed layer. */
  layerBytes: number;
  /** How long the container was frozen (runtime pause) while its layer was archived; 0 when it was not running. */
  frozenMs: number;
}

export interface BackupInfo {
  manifest: BackupManifest;
  /** The source bundle's kslice.json as recorded. */
  record: { lower?: string; uidBase?: number; rootfs?: unknown };
  /** sha256 of the whole file. */
  sha256: string;
}

const fail = (msg: string) => `{ echo ${q(msg)} >&2; exit 1; }`;

/**
 * Writes a backup of container `name` to `out` on its host. The room check comes first (the
 * uncompressed layer's size must fit `out`'s filesystem: zstd can gain nothing on random data);
 * then a running container is frozen with the runtime's pause (cgroup freezer) while tar reads its
 * layer, and thawed by the EXIT trap, also on failure or a signal. One already paused by someone
 * else is left paused. The file appears under its name only whole (rename of a synced temp file
 * in the same directory). Prints one JSON line: the manifest plus the file's sha256 and bytes.
 */
export function backupScript(layout: HostLayout, runtime: "runc" | "crun", prefix: string, name: string, out: string): string {
  const b = layout.bundle(name);
  const rt = `${runtime} --root ${q(layout.runtimeRoot)}`;
  return [
    `set -u`,
    `b=${q(b)}; out=${q(out)}`,
    `[ -f "$b/kslice.json" ] && [ ! -e "$b/creating" ] || ${fail(`no container ${name} under prefix ${prefix} (no complete bundle ${b})`)}`,
    `case $out in /*) ;; *) ${fail(`--out ${out}: expected an absolute path`)} ;; esac`,
    `dir=$(dirname -- "$out")`,
    `[ -d "$dir" ] || ${fail(`the directory of ${out} does not exist`)}`,
    `[ ! -e "$out" ] || ${fail(`${out} exists; a backup is never overwritten`)}`,
    `for tool in tar zstd sha256sum; do command -v $tool >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 1; }; done`,
    `${upperRoot(b)}`,
    `need=$(du -sb "$u/upper" | cut -f1) && avail=$(df -B1 --output=avail "$dir" | tail -n1 | tr -d ' ') || exit 1`,
    `[ "$avail" -ge "$need" ] || { echo "no room for the backup in $dir: $avail bytes free, the writable layer holds $need (uncompressed), short by $((need - avail))" >&2; exit 1; }`,
    `w=$(mktemp -d "$dir/.kslice-backup-XXXXXX") || exit 1`,
    `paused=`,
    `thaw() { if [ -n "$paused" ]; then ${rt} resume ${q(name)} || echo ${q(`could not thaw ${name}: ${runtime} resume failed`)} >&2; paused=; fi; }`,
    `trap 'thaw; rm -rf "$w"' EXIT`,
    `trap 'exit 1' HUP INT TERM`,
    `base=$(sed -n 's/.*"uidBase":\\([0-9]*\\).*/\\1/p' "$b/kslice.json")`,
    `maps=`,
    // ids of the source's range are stored container-relative: a restore adds its own base
    `if [ -n "$base" ]; then find "$u/upper" -xdev -printf '%U\\n%G\\n' | sort -un | awk -v lo="$base" -v hi=$((base + ${rangeSize})) '$1 >= lo && $1 < hi { print "+" $1 " +" ($1 - lo) }' > "$w/ids" || exit 1; maps="--owner-map=$w/ids --group-map=$w/ids"; fi`,
    `st=$(${rt} state ${q(name)} 2>/dev/null | sed -n 's/.*"status": *"\\([a-z]*\\)".*/\\1/p')`,
    `t0=$(date +%s%N)`,
    // marked before the pause: a signal during it is handled once it returns, and the trap must thaw
    `if [ "$st" = running ]; then paused=1; ${rt} pause ${q(name)} || { paused=; ${fail(`could not freeze ${name} (${runtime} pause)`)}; }; fi`,
    // dash has no pipefail: tar's failure is kept in a file
    `{ tar -C "$u/upper" ${tarFlags} $maps -cf - . || echo $? > "$w/tar.rc"; } | zstd -q -T0 -o "$w/layer.tar.zst" || ${fail("zstd failed")}`,
    `[ ! -e "$w/tar.rc" ] || ${fail(`tar of the writable layer of ${name} failed`)}`,
    `thaw; t1=$(date +%s%N)`,
    `frozen=0; [ "$st" = running ] && frozen=$(( (t1 - t0) / 1000000 ))`,
    `cp "$b/config.json" "$w/config.json" && cp "$b/kslice.json" "$w/kslice.json" || exit 1`,
    `lb=$(stat -c %s "$w/layer.tar.zst") || exit 1`,
    `printf '{"format":"${backupFormat}","container":"%s","prefix":"%s","created":"%s",%s"layerBytes":%s,"frozenMs":%s}\\n' ${q(name)} ${q(prefix)} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$([ -n "$base" ] && printf '"uidBase":%s,' "$base")" "$lb" "$frozen" > "$w/backup.json" || exit 1`,
    `(cd "$w" && sha256sum ${members.join(" ")} > SHA256SUMS) || exit 1`,
    `tar -C "$w" -cf "$w/out.tar" SHA256SUMS ${members.join(" ")} && chmod 0600 "$w/out.tar" || exit 1`,
    // on disk before it is published, then its name (durable.ts)
    `sync "$w/out.tar" && mv -T "$w/out.tar" "$out" && sync "$dir" || exit 1`,
    `sum=$(sha256sum < "$out" | cut -d' ' -f1)`,
    `printf '{"file":"%s","bytes":%s,"sha256":"%s","manifest":%s}\\n' "$out" "$(stat -c %s "$out")" "$sum" "$(cat "$w/backup.json")"`,
  ].join("\n");
}

export interface BackupResult {
  file: string;
  bytes: number;
  sha256: string;
  manifest: BackupManifest;
}

/** Takes a backup (backupScript): one command, bounded by `timeoutMs`. */
export async function takeBackup(
  t: Pick<Transport, "run">,
  layout: HostLayout,
  runtime: "runc" | "crun",
  prefix: string,
  name: string,
  out: string,
  timeoutMs = 600_000,
): Promise<BackupResult> {
  const r = await t.run(["sh", "-c", backupScript(layout, runtime, prefix, name, out)], { timeoutMs, allowFailure: true });
  if (r.exitCode !== 0) throw new Error(`backup of ${name} to ${out}: ${r.stderr.trim() || `exited with ${r.exitCode}`}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as BackupResult;
}

/**
 * Lines checking backup "$f" (set by the caller): a tar whose every member's sha256 matches its
 * SHA256SUMS line, all members present. A truncated file fails tar's listing or a member's sum,
 * a flipped byte a member's sum (or SHA256SUMS itself, which then lists none or a wrong one).
 */
function verifyLines(): string[] {
  return [
    `[ -f "$f" ] || { echo "no such file" >&2; exit 1; }`,
    `l=$(tar -tf "$f" 2>&1) || { echo "not a whole tar file: $(printf '%s' "$l" | tail -n1)" >&2; exit 1; }`,
    `sums=$(tar -xOf "$f" SHA256SUMS 2>/dev/null) || { echo "no SHA256SUMS in it: not a kslice backup" >&2; exit 1; }`,
    `for m in ${members.join(" ")}; do`,
    `  want=$(printf '%s\\n' "$sums" | awk -v m="$m" '$2 == m { print $1 }')`,
    `  [ -n "$want" ] || { echo "its SHA256SUMS lists no $m" >&2; exit 1; }`,
    `  got=$(tar -xOf "$f" "$m" 2>/dev/null | sha256sum | cut -d' ' -f1)`,
    `  [ "$got" = "$want" ] || { echo "$m has sha256 $got, SHA256SUMS says $want: the file is corrupt or truncated" >&2; exit 1; }`,
    `done`,
  ];
}

/** Checks a backup file on its host and returns what it holds; the error names the file and the host. */
export async function readBackup(t: Pick<Transport, "run" | "target">, file: string): Promise<BackupInfo> {
  const script = [
    `f=${q(file)}`,
    ...verifyLines(),
    `tar -xOf "$f" backup.json && echo @@record && tar -xOf "$f" kslice.json && echo && echo @@sum && sha256sum < "$f" | cut -d' ' -f1`,
  ].join("\n");
  const r = await t.run(["sh", "-c", script], { timeoutMs: 600_000, allowFailure: true });
  const bad = (why: string) => new Error(`backup ${file} on host ${t.target}: ${why}`);
  if (r.exitCode !== 0) throw bad(r.stderr.trim() || `check exited with ${r.exitCode}`);
  const [manifest = "", rest = ""] = r.stdout.split("@@record\n");
  const [record = "", sum = ""] = rest.split("@@sum\n");
  try {
    const m = JSON.parse(manifest) as BackupManifest;
    if (m.format !== backupFormat) throw bad(`format ${JSON.stringify(m.format)}; expected ${backupFormat}`);
    return { manifest: m, record: JSON.parse(record) as BackupInfo["record"], sha256: sum.trim() };
  } catch (e) {
    throw e instanceof Error && e.message.startsWith("backup ") ? e : bad(`unreadable manifest: ${(e as Error).message}`);
  }
}

/**
 * Shell (run with $u set to where the bundle's upper is, before the overlay is mounted) that
 * fills the empty upper from backup `file`, checked again on the very bytes unpacked. With
 * `uidBase` (the new container's user-namespace base), container-relative ids are shifted into
 * its range: tar maps ids only when it writes an archive, so the layer is unpacked aside, then
 * archived again with --owner-map into the upper (modes, setuid bits and capabilities kept, which
 * a chown would clear); that needs the layer's room twice for a moment.
 */
export function restoreLayerLines(file: string, uidBase: number | undefined): string[] {
  const fail2 = (why: string) => `{ echo ${q(`backup ${file}: ${why}`)} >&2; exit 1; }`;
  const unpackTo = uidBase === undefined ? `"$u/upper"` : `"$u/.restore"`;
  return [
    `f=${q(file)}`,
    // the whole file was checked at check (preview); here the layer's bytes that are unpacked
    `z="$u/.layer.tar.zst"; rm -f "$z"`,
    `tar -xOf "$f" layer.tar.zst > "$z" 2>/dev/null || ${fail2("cannot read its layer")}`,
    `want=$(tar -xOf "$f" SHA256SUMS | awk '$2 == "layer.tar.zst" { print $1 }')`,
    `[ "$(sha256sum < "$z" | cut -d' ' -f1)" = "$want" ] || { rm -f "$z"; ${fail2("its layer's sha256 does not match its SHA256SUMS: corrupt or truncated")}; }`,
    `rm -rf ${unpackTo} && mkdir ${unpackTo} || exit 1`,
    `zstd -q -dc "$z" | tar -C ${unpackTo} ${tarFlags} -xpf - || { rm -f "$z"; ${fail2("tar could not unpack its layer")}; }`,
    `rm -f "$z"`,
    ...(uidBase === undefined
      ? []
      : [
          `find "$u/.restore" -xdev -printf '%U\\n%G\\n' | sort -un | awk -v d=${uidBase} '$1 < ${rangeSize} { print "+" $1 " +" ($1 + d) }' > "$u/.restore.ids" || exit 1`,
          `rm -rf "$u/upper" && mkdir "$u/upper" || exit 1`,
          `tar -C "$u/.restore" ${tarFlags} --owner-map="$u/.restore.ids" --group-map="$u/.restore.ids" -cf - . | tar -C "$u/upper" ${tarFlags} -xpf - || ${fail2("re-owning its layer failed")}`,
          `rm -rf "$u/.restore" "$u/.restore.ids"`,
        ]),
    // thousands of files: one syncfs, as for a migrated layer (durable.ts)
    `sync -f "$u/upper" || ${fail2("sync of the unpacked layer failed")}`,
  ];
}

/**
 * Checks a backup and unpacks it into `dir` (made; must not exist): SHA256SUMS, backup.json,
 * config.json, kslice.json as files and the layer as `layer/`, owners as stored (container-relative).
 */
export async function unpackBackup(t: Pick<Transport, "run" | "target">, file: string, dir: string): Promise<void> {
  const script = [
    `f=${q(file)}; d=${q(dir)}`,
    ...verifyLines(),
    `[ ! -e "$d" ] || { echo "${dir.replace(/["$`\\]/g, "")} exists" >&2; exit 1; }`,
    `mkdir -p "$d/layer" && tar -C "$d" -xf "$f" SHA256SUMS backup.json config.json kslice.json || exit 1`,
    `tar -xOf "$f" layer.tar.zst | zstd -q -dc | tar -C "$d/layer" ${tarFlags} -xpf - || exit 1`,
    `chmod 0700 "$d"`,
  ].join("\n");
  const r = await t.run(["sh", "-c", script], { timeoutMs: 600_000, allowFailure: true });
  if (r.exitCode !== 0) throw new Error(`backup ${file} on host ${t.target}: ${r.stderr.trim() || `exited with ${r.exitCode}`}`);
}

/**
 * What a backup of container `name` into `dir` needs and has, in one command: the writable layer's
 * bytes (uncompressed) and the bytes free where `dir` is (or its nearest existing parent: the
 * directory is made at the first backup). Undefined when the container has no bundle yet.
 */
export async function readBackupRoom(
  t: Pick<Transport, "run">,
  layout: HostLayout,
  name: string,
  dir: string,
): Promise<{ need: number; avail: number } | undefined> {
  const script = [
    `b=${q(layout.bundle(name))}`,
    `[ -f "$b/kslice.json" ] || exit 0`,
    upperRoot(layout.bundle(name)),
    `d=${q(dir)}; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done`,
    `echo "$(du -sb "$u/upper" | cut -f1) $(df -B1 --output=avail "$d" | tail -n1 | tr -d ' ')"`,
  ].join("\n");
  const out = (await t.run(["sh", "-c", script], { timeoutMs: 120_000 })).stdout.trim();
  if (!out) return undefined;
  const [need = 0, avail = 0] = out.split(" ").map(Number);
  return { need, avail };
}

/** Makes a backup directory (root's alone: the files hold the container's env). */
export async function ensureBackupDir(t: Pick<Transport, "run">, dir: string): Promise<void> {
  await t.run(["sh", "-c", `mkdir -p ${q(dir)} && chmod 0700 ${q(dir)}`], { timeoutMs: 30_000 });
}

/** Which of `files` exist on the host (a Backup's read). */
export async function presentFiles(t: Pick<Transport, "run">, files: string[]): Promise<string[]> {
  if (!files.length) return [];
  const r = await t.run(["sh", "-c", `for f in ${files.map(q).join(" ")}; do [ -f "$f" ] && printf '%s\\n' "$f"; done; exit 0`], { timeoutMs: 30_000 });
  return r.stdout.split("\n").filter(Boolean);
}

/** Removes backup files (a Backup's rotation), then syncs their directories (durable.ts). */
export async function removeFiles(t: Pick<Transport, "run">, files: string[]): Promise<void> {
  if (!files.length) return;
  const dirs = [...new Set(files.map((f) => f.replace(/\/[^/]*$/, "") || "/"))];
  await t.run(["sh", "-c", `rm -f -- ${files.map(q).join(" ")} && sync -- ${dirs.map(q).join(" ")}`], { timeoutMs: 30_000 });
}
