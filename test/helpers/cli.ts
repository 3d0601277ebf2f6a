import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The compiled CLI (npm run build, or scripts/setup.sh, makes it). */
export const cliPath = join(__dirname, "..", "..", "dist", "cli", "main.js");

function ensureBuilt(): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
}

/** Runs `kslice ARGS…` to its end; bounded. */
export function kslice(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  ensureBuilt();
  return new Promise((resolve) => {
    execFile("node", [cliPath, ...args], { timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts `kslice ARGS…` and collects its output as it comes (logs -f, events -f). */
export function ksliceLive(args: string[]): { child: ChildProcess; output: () => string; waitFor: (re: RegExp, timeoutMs?: number) => Promise<string> } {
  ensureBuilt();
  const child = spawn("node", [cliPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const waitFor = (re: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const tick = () => {
        if (re.test(out)) return resolve(out);
        if (Date.now() > deadline) return reject(new Error(`no ${re} in kslice's output within ${timeoutMs} ms:\n${out}`));
        setTimeout(tick, 100);
      };
      tick();
    });
  return { child, output: () => out, waitFor };
}
