import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * This machine's plain-HTTP Debian mirror, as the lab image was built from it (image.sh): deb822
 * sources first. undefined when apt names none (then no guest gets a mirror forward).
 */
export function hostMirror(): URL | undefined {
  const dir = "/etc/apt/sources.list.d";
  const texts: string[] = [];
  try {
    texts.push(
      ...readdirSync(dir)
        .filter((f) => f.endsWith(".sources") || f.endsWith(".list"))
        .map((f) => readFileSync(join(dir, f), "utf8")),
    );
  } catch {
    // no sources directory
  }
  try {
    texts.push(readFileSync("/etc/apt/sources.list", "utf8"));
  } catch {
    // no classic sources file
  }
  const all = texts.join("\n");
  const url =
    process.env.KSLICE_LAB_MIRROR ??
    all.match(/^(?:URIs:|deb(?: \[[^\]]*\])?)\s+(http:\/\/\S+\/debian)\/?\s*$/m)?.[1] ??
    all.match(/(http:\/\/\S+\/debian)\/? /)?.[1];
  return url ? new URL(url) : undefined;
}

/** The lab option `mirror` for hostMirror(), or undefined. */
export function mirrorOption(): { host: string; port: number } | undefined {
  const m = hostMirror();
  return m ? { host: m.hostname, port: Number(m.port || 80) } : undefined;
}
