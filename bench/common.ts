// Small helpers every part of the bench uses: time, number formats, shell, output, the abort flag.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export const repoRoot = join(__dirname, "..", "..");
/** What every container runs, in kslice, raw runc and podman alike. */
export const command = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];
export const MiB = 2 ** 20;

export const now = () => performance.now();
/** Milliseconds as seconds with two decimals. */
export const s = (ms: number) => (ms / 1000).toFixed(2);
export const ms1 = (ms: number) => ms.toFixed(1);
export const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !(b > 0) ? "n/a" : `${(a / b).toFixed(2)}×`);
export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
export const median = (xs: number[]) => {
  if (!xs.length) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};
export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Set by SIGINT/SIGTERM: every phase stops at its next step, then the cleanup runs. */
export const run = { aborted: false };

export function sh(script: string, timeoutMs = 60_000): { code: number; out: string; err: string } {
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * MiB });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error.message) : "") };
}

export function must(script: string, timeoutMs = 60_000): string {
  const r = sh(script, timeoutMs);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${script}\n${r.err.trim()}`);
  return r.out;
}

export function say(msg: string): void {
  process.stdout.write(`${msg}\n`);
}
export function progress(msg: string): void {
  process.stdout.write(`  · ${msg}\n`);
}
