import { shellQuote as q } from "../transport/transport";

/**
 * Durability of kslice's records on a host (ARCHITECTURE.md, "Durability").
 *
 * A record written by the shell is in the page cache, not on disk: ext4's delayed allocation
 * writes it back within seconds to a minute, and a power loss before that leaves the file empty
 * (0 bytes) or a rename undone. So every operation that writes records ends with one `sync FILE…`
 * (coreutils: an fsync of each file named) of exactly what it wrote, and of the directories whose
 * entries it changed (a new name, a rename, a removal), before it reports success. One process per
 * operation, whatever the number of files: on ext4 the first fsync commits the journal with every
 * name the operation made, the later ones find their inode committed.
 *
 * A path holding `*` is a glob (a record whose name the script finds, e.g. every network's
 * addresses); paths that do not exist when the sync runs (a file the script removed, a glob that
 * matched nothing, a directory a concurrent operation removed) are skipped.
 */

/** The directories above `path` whose entries a new file can change, up to /var/lib or /etc/systemd (not /var, not /). */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let d = path.slice(0, path.lastIndexOf("/")); d.split("/").length > 2; d = d.slice(0, d.lastIndexOf("/"))) out.push(d);
  return out;
}

/** Every path to fsync for these writes: the paths themselves and the directories above them. */
export function syncTargets(writes: Iterable<string>): string[] {
  const all = new Set<string>();
  for (const w of writes) {
    all.add(w);
    for (const d of ancestors(w)) all.add(d);
  }
  // deepest first: a file's data, then the name that points at it
  return [...all].sort((a, b) => b.split("/").length - a.split("/").length || (a < b ? -1 : 1));
}

/** A path as a shell word: quoted, `*` left to the shell as a glob. */
const word = (p: string) =>
  p
    .split("*")
    .map((s) => (s ? q(s) : ""))
    .join("*");

/**
 * The shell that puts `writes` (files and directories, see above) on disk: one `sync` of those that
 * exist, each with the directories above it. Exits non-zero when the sync fails (an I/O error):
 * the operation then reports failure instead of a success a power loss would undo.
 */
export function syncScript(writes: Iterable<string>): string {
  const targets = syncTargets(writes);
  if (!targets.length) return "true";
  // a directory another operation removes between the look and the sync (two budgets' deletes
  // emptying one parent) is not an I/O error: look again, and fail on the third failure
  return [
    "ks_try=0",
    "while :; do",
    `  set --; for f in ${targets.map(word).join(" ")}; do [ -e "$f" ] && set -- "$@" "$f"; done`,
    `  [ $# = 0 ] && break`,
    `  ks_se=$(sync -- "$@" 2>&1) && break`,
    `  ks_try=$((ks_try + 1)); [ $ks_try -lt 3 ] || { printf '%s\\n' "$ks_se" >&2; echo "sync of what this operation wrote failed" >&2; exit 1; }`,
    "done",
  ].join("\n");
}

/** A script (run in a subshell of its own: its `exit` ends it) followed by the sync of what it wrote. */
export function durably(script: string, writes: Iterable<string>): string {
  return `(\n${script}\n) || exit $?\n${syncScript(writes)}`;
}
