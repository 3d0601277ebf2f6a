import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = join(__dirname, "..", "..");

/**
 * The offline environment every run uses: a file backend, passphrase secrets, no update check,
 * no plugin download, and the CLI setup.sh built on PATH. Values already set in the environment win.
 */
export function pulumiEnv(): Record<string, string> {
  const marker = join(repoRoot, "node_modules", ".kslice-pulumi-bin");
  const bin = process.env.KSLICE_PULUMI_BIN ?? (existsSync(marker) ? readFileSync(marker, "utf8").trim() : "");
  if (!bin) throw new Error("no Pulumi CLI recorded: run `npm run setup` first");
  return {
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${join(repoRoot, ".pulumi-state")}`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "kslice-local",
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
