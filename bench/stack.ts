// Driving Pulumi: one operation (up, preview, refresh, destroy, outputs) of one bench program's stack
// through the real engine (dist/scripts/stack.js), timed from outside, bounded, its log kept.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Opts } from "./args";
import { now, repoRoot, s, say } from "./common";

/** What one run of the bench shares: its prefix, temp dir, state backend and options. */
export interface Ctx {
  prefix: string;
  tmp: string;
  backend: string;
  opts: Opts;
  logs: string;
}

export interface OpResult {
  op: string;
  ok: boolean;
  ms: number;
  /** The engine's own "Duration:" line, when it printed one. */
  engine?: string;
  summary?: Record<string, number>;
  outputs?: Record<string, unknown>;
  error?: string;
  /** For a repeated read-only op (previews): every run's ms; `ms` is their median. */
  samples?: number[];
}

export interface RunOptions {
  /** Extra environment for the runner, the engine and the provider. */
  env?: Record<string, string>;
  /** A command the runner is started under (e.g. strace …); its own argv, the runner's follows. */
  wrap?: string[];
}

/** The engine run under way, so that a signal can stop its whole process group. */
let current: ChildProcess | undefined;

export function interruptCurrent(): void {
  if (!current?.pid) return;
  try {
    process.kill(-current.pid, "SIGINT");
  } catch {
    /* gone */
  }
}

export function runStack(c: Ctx, op: string, program: string, stack: string, n: number, timeoutMs: number, extra: RunOptions = {}): Promise<OpResult> {
  const args = [
    join(repoRoot, "dist/scripts/stack.js"),
    op,
    join(repoRoot, "bench/programs"),
    "--json",
    "--stack",
    stack,
    "--workdir",
    join(c.tmp, "work"),
    "--program",
    join(repoRoot, `dist/bench/programs/${program}/index.js`),
    "--config",
    `kslice:prefix=${c.prefix}`,
    "--config",
    `kslice:count=${n}`,
    "--config",
    `kslice:subnet=${c.opts.subnet}`,
  ];
  if (op === "up" || op === "destroy") args.push("--parallel", String(c.opts.parallel));
  const argv = [...(extra.wrap ?? []), process.execPath, ...args];
  const logFile = join(c.logs, `${stack}.log`);
  const t0 = now();
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true, // own process group: a timeout stops the CLI and its plugins too
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${c.backend}`,
        PULUMI_CONFIG_PASSPHRASE: "kslice-bench",
        // preview and refresh take their parallelism from here (stack.ts passes --parallel to up and destroy)
        PULUMI_PARALLEL: String(c.opts.parallel),
        ...extra.env,
      },
    });
    current = child;
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid!, "SIGINT");
      setTimeout(() => killGroup(child.pid!, "SIGKILL"), 30_000).unref();
    }, timeoutMs);
    child.on("close", async (code, signal) => {
      clearTimeout(timer);
      const ms = now() - t0;
      // the CLI and its plugins share the runner's process group: wait (bounded) until they are gone,
      // so that the next run never finds the stack locked by a cancelled one
      for (let i = 0; i < 600 && groupAlive(child.pid!); i++) await new Promise((r) => setTimeout(r, 100));
      current = undefined;
      writeFileSync(logFile, `$ ${argv.join(" ")}\n${err}\n${out}`, { flag: "a" });
      const last = out.trim().split("\n").pop();
      let json: { summary?: Record<string, number>; outputs?: Record<string, unknown> } | undefined;
      try {
        json = last ? JSON.parse(last) : undefined;
      } catch {
        json = undefined;
      }
      const engine = /Duration: (\S+)/.exec(err)?.[1];
      const ok = code === 0 && !timedOut;
      const error = ok
        ? undefined
        : `${timedOut ? `timed out after ${s(timeoutMs)} s; ` : ""}exit ${code ?? signal}: ${err.trim().split("\n").slice(-15).join("\n")}`;
      resolve({ op, ok, ms, engine, summary: json?.summary, outputs: json?.outputs, error });
    });
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* gone */
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export const summaryText = (r: OpResult) =>
  r.summary
    ? Object.entries(r.summary)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")
    : r.ok
      ? ""
      : "FAILED";

/** Stacks created and not yet destroyed ("program|stack|n"): the cleanup destroys them. */
export const undestroyed = new Set<string>();

/** Per-operation bound: generous, and growing with N (the file backend rewrites the state per step). */
export const stackTimeoutMs = (n: number) => 600_000 + n * 6_000;

export async function destroyLeftStacks(c: Ctx): Promise<void> {
  for (const key of [...undestroyed]) {
    const [program, stack, n] = key.split("|") as [string, string, string];
    say(`  cleanup: destroying stack ${stack} left by a failed step`);
    const r = await runStack(c, "destroy", program, stack, Number(n), Math.max(900_000, stackTimeoutMs(Number(n))));
    if (r.ok) undestroyed.delete(key);
    else say(`  cleanup: destroy ${stack} failed: ${r.error}`);
  }
}
