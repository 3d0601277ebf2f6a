import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { labCacheDir } from "./image";

// Each lab run owns one directory under <cache>/lab/runs/: owner.json names the process that
// started it, vm-N/ holds a VM's overlay, keys, console log and qemu.pid. A run whose owner is
// gone (killed test process) is swept: its QEMU processes are killed and the directory removed.

export function runsRoot(): string {
  return join(labCacheDir(), "runs");
}

interface Owner {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  startTicks: string;
}

/** Field 22 of /proc/PID/stat, or undefined when there is no such process (or it is a zombie). */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function createRunDir(): string {
  mkdirSync(runsRoot(), { recursive: true });
  const dir = mkdtempSync(join(runsRoot(), `run-${process.pid}-`));
  const owner: Owner = { pid: process.pid, startTicks: processStartTicks(process.pid) ?? "" };
  writeFileSync(join(dir, "owner.json"), JSON.stringify(owner));
  return dir;
}

function ownerAlive(dir: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as Owner;
    return processStartTicks(owner.pid) === owner.startTicks;
  } catch {
    return false; // no owner file: a run that died while being created
  }
}

/** QEMU processes of a run: pids from vm-N/qemu.pid whose command line still names the run directory. */
export function qemuPidsOf(dir: string): number[] {
  const pids: number[] = [];
  for (const vm of existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith("vm-")) : []) {
    try {
      const pid = Number(readFileSync(join(dir, vm, "qemu.pid"), "utf8").trim());
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes(dir) && processStartTicks(pid) !== undefined) pids.push(pid);
    } catch {
      // no pid file yet, or the process is gone
    }
  }
  return pids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after graceMs; resolves when every pid is gone or after a bounded wait. */
export async function killAndWait(pids: number[], graceMs = 5_000): Promise<number[]> {
  const alive = () => pids.filter((p) => processStartTicks(p) !== undefined);
  const signal = (sig: NodeJS.Signals) =>
    alive().forEach((p) => {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    });
  signal("SIGTERM");
  for (const [deadline, next] of [
    [graceMs, "SIGKILL"],
    [5_000, undefined],
  ] as const) {
    const until = Date.now() + deadline;
    while (alive().length > 0 && Date.now() < until) await sleep(100);
    if (alive().length === 0) return [];
    if (next) signal(next);
  }
  return alive();
}

/**
 * Removes lab runs whose owner process is gone (all runs with `all`), killing their QEMU first.
 * Returns the directories removed.
 */
export async function sweepRuns(opts: { all?: boolean; log?: (s: string) => void } = {}): Promise<string[]> {
  if (!existsSync(runsRoot())) return [];
  const removed: string[] = [];
  for (const name of readdirSync(runsRoot())) {
    const dir = join(runsRoot(), name);
    if (!opts.all && ownerAlive(dir)) continue;
    const pids = qemuPidsOf(dir);
    const left = await killAndWait(pids);
    if (left.length > 0) throw new Error(`lab sweep: QEMU pids ${left.join(", ")} of ${dir} survived SIGKILL`);
    rmSync(dir, { recursive: true, force: true });
    opts.log?.(`[lab] swept ${dir}${pids.length ? ` (killed QEMU ${pids.join(", ")})` : ""}`);
    removed.push(dir);
  }
  return removed;
}

/** A 127.0.0.1 port free right now (QEMU binds it a moment later; a lost race is retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port from listen(0)"))));
    });
  });
}
