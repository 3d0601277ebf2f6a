import { shellQuote as q, type Transport } from "../../transport/transport";

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
 * read any process's arguments in /proc/<pid>/cmdline. Contents are base64 in here-documents, so
 * any byte (and any trailing newline, or none) arrives unchanged. Scripts are replaced by rename:
 * a shell that runs one (the supervisor's restart) never reads a half-written or mixed text.
 */
export function writeFilesScript(files: BundleFile[]): string {
  const lines = ["umask 077"];
  for (const f of files) {
    const mode = f.mode ?? "600";
    const target = f.inPlace ? f.path : `${f.path}.new`;
    const body = Buffer.from(f.content, "utf8").toString("base64").replace(/.{1,76}/g, "$&\n");
    lines.push(
      `base64 -d > ${q(target)} <<'KSLICE_B64' || { echo "writing ${f.path} failed" >&2; exit 1; }`,
      `${body}KSLICE_B64`,
      `chmod ${mode} ${q(target)} || exit 1`,
      ...(f.inPlace ? [] : [`mv -f ${q(target)} ${q(f.path)} || exit 1`]),
    );
  }
  return lines.join("\n");
}

/** Writes bundle files in one command (one round trip over SSH), their contents over stdin. */
export async function writeBundleFiles(t: Transport, files: BundleFile[]): Promise<void> {
  if (files.length) await t.run(["sh", "-s"], { input: writeFilesScript(files) });
}
