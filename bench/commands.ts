// Host commands a no-op preview costs, counted two ways:
// - the provider's own count: with KSLICE_COUNT_COMMANDS=<file> set, each provider process appends
//   its number of host commands to <file> when it exits (the transport counts; over SSH too);
// - a local proxy that needs nothing from the provider: the same preview run once more under
//   `strace -f --seccomp-bpf`, counting the programs a node process exec'd (the provider's commands),
//   not the engine's own plugins. Local only, and untimed: strace slows what it traces.
import { existsSync, readFileSync } from "node:fs";
import { sh } from "./common";

export const countEnv = "KSLICE_COUNT_COMMANDS";

/**
 * The host commands the provider processes reported in file, summed; undefined while the file stays
 * empty (a provider without the counter). One record a line: a number, or JSON with a count in it.
 */
export function readCommandCount(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  let total: number | undefined;
  for (const line of readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter(Boolean)) {
    let count: number | undefined;
    try {
      const json: unknown = JSON.parse(line);
      if (typeof json === "number") count = json;
      else if (json && typeof json === "object") {
        const rec = json as Record<string, unknown>;
        const v = rec.commands ?? rec.count ?? rec.hostCommands;
        if (typeof v === "number") count = v;
      }
    } catch {
      const m = /(\d+)\D*$/.exec(line); // "… 42" or "commands=42"
      if (m) count = Number(m[1]);
    }
    if (count !== undefined && Number.isFinite(count)) total = (total ?? 0) + count;
  }
  return total;
}

export const straceAvailable = () => sh("strace -f --seccomp-bpf -e trace=execve -o /dev/null true").code === 0;

/** strace's argv for one traced run, writing its trace to file. */
export const straceWrap = (file: string) => ["strace", "-f", "--seccomp-bpf", "-qq", "-s", "256", "-e", "trace=execve,clone,clone3,fork,vfork", "-e", "signal=none", "-o", file];

export interface ExecCount {
  /** Successful execs by a process a node process created: the provider's host commands. */
  commands: number;
  /** The same, by program name, most first. */
  byProgram: [string, number][];
}

/** The engine's own programs, started by node too (the runner starts pulumi; the language host starts node). */
const engineOwn = (name: string) => name === "node" || name.startsWith("pulumi");

/** Counts, in a strace -f trace, the programs node processes exec'd (see straceWrap). */
export function countExecs(traceFile: string): ExecCount {
  const creator = new Map<number, number>();
  const pending = new Map<number, string>();
  const execs: [number, string][] = [];
  for (const line of readFileSync(traceFile, "utf8").split("\n")) {
    const pid = Number(/^(\d+)\s/.exec(line)?.[1]);
    if (!pid) continue;
    const spawned = /^\d+\s+(?:<\.\.\. )?(?:clone3?|v?fork)\b.*= (\d+)$/.exec(line);
    if (spawned) {
      creator.set(Number(spawned[1]), pid);
      continue;
    }
    const call = /^\d+\s+execve\("([^"]*)"/.exec(line);
    if (call) {
      if (/<unfinished \.\.\.>$/.test(line)) pending.set(pid, call[1]!);
      else if (/= 0$/.test(line)) execs.push([pid, call[1]!]);
      continue;
    }
    if (/^\d+\s+<\.\.\. execve resumed>.*= 0$/.test(line) && pending.has(pid)) execs.push([pid, pending.get(pid)!]);
    if (/^\d+\s+<\.\.\. execve resumed>/.test(line)) pending.delete(pid);
  }
  // a process runs what it last exec'd, else what its creator ran (threads, forks before exec);
  // the trace is in time order, so a parent's exec is seen before its child's
  const image = new Map<number, string>();
  const imageOf = (pid: number): string | undefined => {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && hops < 64; p = creator.get(p), hops++) {
      const img = image.get(p);
      if (img) return img;
    }
    return undefined;
  };
  const base = (path: string) => path.slice(path.lastIndexOf("/") + 1);
  const byProgram = new Map<string, number>();
  let commands = 0;
  for (const [pid, path] of execs) {
    const parent = creator.get(pid);
    const parentImage = parent === undefined ? undefined : imageOf(parent);
    image.set(pid, path);
    const name = base(path);
    if (parentImage && base(parentImage) === "node" && !engineOwn(name)) {
      commands++;
      byProgram.set(name, (byProgram.get(name) ?? 0) + 1);
    }
  }
  return { commands, byProgram: [...byProgram].sort((a, b) => b[1] - a[1]) };
}
