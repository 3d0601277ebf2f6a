import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { run } from "./exec";

/** The lab's VM image as image.sh left it in the cache. */
export interface LabImage {
  /** ext4 root filesystem (raw); VMs boot from copy-on-write overlays of it. */
  path: string;
  kernel: string;
  initrd: string;
  /** True when this call built the image, false when it was cached. */
  built: boolean;
  /** Time image.sh took: the build, or just the cache check. */
  seconds: number;
}

/** ${KSLICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kslice}/lab, the same rule as image.sh. */
export function labCacheDir(): string {
  const base = process.env.KSLICE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kslice");
  return join(base, "lab");
}

/** image.sh sits beside this file in the source tree; the compiled copy lives in dist/test/lab. */
function imageScript(): string {
  const candidates = [join(__dirname, "image.sh"), join(__dirname, "..", "..", "..", "test", "lab", "image.sh")];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`image.sh not found (looked in ${candidates.join(", ")})`);
  return found;
}

/** Builds the image unless the cache holds one for the current recipe (a cold build takes about a minute). */
export async function ensureImage(opts: { log?: (s: string) => void } = {}): Promise<LabImage> {
  const { stdout } = await run("bash", [imageScript()], {
    timeoutMs: 15 * 60_000,
    onStderrLine: (line) => {
      // mmdebstrap is chatty; pass on only image.sh's own lines and errors.
      if (/^\[lab:image\]|^E:|error/i.test(line)) opts.log?.(line);
    },
  });
  const fields = new Map(
    stdout
      .trim()
      .split("\n")
      .map((l): [string, string] => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const field = (k: string): string => {
    const v = fields.get(k);
    if (v === undefined) throw new Error(`image.sh printed no ${k}= line; its stdout was: ${stdout}`);
    return v;
  };
  return {
    path: field("image"),
    kernel: field("kernel"),
    initrd: field("initrd"),
    built: field("built") === "1",
    seconds: Number(field("seconds")),
  };
}
