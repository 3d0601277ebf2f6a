import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = join(__dirname, "..", "..");
/** The runner's own stacks (the demo's); 0700, since the state holds the outputs and encrypted secrets. */
export const defaultStateDir = join(repoRoot, ".pulumi-state");
const passphraseFile = join(repoRoot, ".pulumi-passphrase");

/**
 * The passphrase that encrypts this checkout's stack secrets: PULUMI_CONFIG_PASSPHRASE or
 * PULUMI_CONFIG_PASSPHRASE_FILE when set, otherwise one made at random on first use and kept in a
 * 0600 file (never a constant: anyone could decrypt state with a passphrase found in the code).
 */
function passphrase(): Record<string, string> {
  if (process.env.PULUMI_CONFIG_PASSPHRASE !== undefined) return { PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE };
  if (process.env.PULUMI_CONFIG_PASSPHRASE_FILE) return { PULUMI_CONFIG_PASSPHRASE_FILE: process.env.PULUMI_CONFIG_PASSPHRASE_FILE };
  if (!existsSync(passphraseFile)) {
    try {
      writeFileSync(passphraseFile, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; // another run made it first
    }
  }
  chmodSync(passphraseFile, 0o600);
  return { PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile };
}

/**
 * The offline environment every run uses: a file backend, passphrase secrets, no update check,
 * no plugin download, and the CLI setup.sh built on PATH. Values already set in the environment win.
 */
export function pulumiEnv(): Record<string, string> {
  const marker = join(repoRoot, "node_modules", ".kslice-pulumi-bin");
  const bin = process.env.KSLICE_PULUMI_BIN ?? (existsSync(marker) ? readFileSync(marker, "utf8").trim() : "");
  if (!bin) throw new Error("no Pulumi CLI recorded: run `npm run setup` first");
  return {
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${defaultStateDir}`,
    ...passphrase(),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // The engine diffs one resource at a time unless asked; kslice's diffs read the kernel, so a
    // preview of N containers would wait N round trips (measured: 186 s vs 21.5 s for N=200).
    PULUMI_PARALLEL_DIFF: process.env.PULUMI_PARALLEL_DIFF ?? "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: process.env.PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK ?? "false",
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    KSLICE_PULUMI_BIN: join(bin, "pulumi"),
  };
}
