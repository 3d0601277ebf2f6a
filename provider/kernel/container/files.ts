import { shellQuote as q, type Transport } from "../../transport/transport";
import { syncScript } from "../durable";

/** A file of a container's bundle, as the host should hold it. */
export interface BundleFile {
  path: string;
  content: string;
  /** @default "600" */
  mode?: string;
  /** Rewrite the same inode (a bind mount of it must see the change); otherwise a new file is renamed over it. */
  inPlace?: boolean;
}

/**
 * The script that writes bundle files. It travels on the command's standard input, never in its
 * arguments: config.json holds the container's env, secrets included, and every local user can
 * read any process's arguments in /proc/<pid>/cmdline. A file is written by the shell's own printf
 * (no process: a create writes eight of them), created under the umask of its mode; a text that
 * the shell cannot hold (a NUL byte) goes through base64. Scripts are replaced by rename: a shell
 * that runs one (the supervisor's restart) never reads a half-written or mixed text. `fresh`: the
 * bundle was made by this script (a create), so files are written in place, without the rename.
 */
export function writeFilesScript(files: BundleFile[], fresh = false): string {
  const lines: string[] = [];
  for (const f of files) {
    const mode = parseInt(f.mode ?? "600", 8);
    const direct = fresh || f.inPlace;
    // a new name of this shell's own, created anew (noclobber): a leftover of a killed write is never reused with its mode
    const target = direct ? q(f.path) : `${q(`${f.path}.new`)}.$$`;
    lines.push(`umask ${((~mode & 0o777) | 0o111).toString(8).padStart(3, "0")}`);
    const failed = `{ echo ${q(`writing ${f.path} failed`)} >&2; exit 1; }`;
    if (!direct) lines.push("set -C");
    if (f.content.includes("\0")) {
      const body = Buffer.from(f.content, "utf8")
        .toString("base64")
        .replace(/.{1,76}/g, "$&\n");
      lines.push(`base64 -d > ${target} <<'KSLICE_B64' || ${failed}`, `${body}KSLICE_B64`);
    } else {
      lines.push(`printf '%s' ${q(f.content)} > ${target} || ${failed}`);
    }
    if (!direct) lines.push("set +C");
    // an existing file keeps its mode when rewritten in place (a fresh bundle has none); execute bits come from no umask
    if ((f.inPlace && !fresh) || mode & 0o111) lines.push(`chmod ${f.mode ?? "600"} ${target} || exit 1`);
    if (!direct) lines.push(`mv -f ${target} ${q(f.path)} || exit 1`);
  }
  lines.push("umask 077");
  return lines.join("\n");
}

/** Writes bundle files in one command (one round trip over SSH), their contents over stdin, on disk when it returns (durable.ts). */
export async function writeBundleFiles(t: Transport, files: BundleFile[]): Promise<void> {
  if (files.length) await t.run(["sh", "-s"], { input: `${writeFilesScript(files)}\n${syncScript(files.map((f) => f.path))}` });
}
