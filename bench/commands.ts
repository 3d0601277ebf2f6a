// Host commands a no-op preview costs, counted two ways:
// - the provider's own count: with KSLICE_COUNT_COMMANDS=<file> set, each provider process appends
//   its number of host commands to <file> when it exits (the transport counts; over SSH too);
// - a local proxy that needs nothing from the provider: the same preview run once more under
//   `strace -f --seccomp-bpf`, counting the programs the provider processes (node …/dynamic-provider)
//   exec'd. Local only, and untimed: strace slows what it traces.
import { existsSync, readFileSync } from "node:fs";
import { sh } from "./common";

export const countEnv = "KSLICE_COUNT_COMMANDS";

/**
 * The host commands the provider processes reported in file, summed; undefined while the file stays
 * empty (a provider without the counter). The provider appends "<pid> <total so far>" after every
 * command (transport.ts countCommand), so a process's count is the last (largest) total of its pid;
 * a line of a bare number is one process's total.
 */
export function readCommandCount(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const byPid = new Map<string, number>();
  let bare: number | undefined;
  for (const line of readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    const m = /^(\d+)\s+(\d+)$/.exec(line);
    if (m) byPid.set(m[1]!, Math.max(byPid.get(m[1]!) ?? 0, Number(m[2])));
    else if (/^\d+$/.test(line)) bare = (bare ?? 0) + Number(line);
  }
  if (!byPid.size && bare === undefined) return undefined;
  return [...byPid.values()].reduce((a, b) => a + b, bare ?? 0);
}

export const straceAvailable = () => sh("strace -f --seccomp-bpf -e trace=execve -o /dev/null true").code === 0;

/** strace's argv for one traced run, writing its trace to file. */
export const straceWrap = (file: string) => [
  "strace",
  "-f",
  "--seccomp-bpf",
  "-qq",
  "-s",
  "256",
  "-e",
  "trace=execve,clone,clone3,fork,vfork",
  "-e",
  "signal=none",
  "-o",
  file,
];

export interface ExecCount {
  /** Successful execs by a process a provider process created: the provider's host commands. */
  commands: number;
  /** The same, by program name, most first. */
  byProgram: [string, number][];
}

/** Counts, in a strace -f trace, the programs the dynamic provider's node processes exec'd (see straceWrap). */
export function countExecs(traceFile: string): ExecCount {
  const creator = new Map<number, number>();
  const pending = new Map<number, string>();
  const execs: [number, string, string][] = [];
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
      if (/<unfinished \.\.\.>$/.test(line)) pending.set(pid, line);
      else if (/= 0$/.test(line)) execs.push([pid, call[1]!, line]);
      continue;
    }
    const resumed = pending.get(pid);
    if (resumed && /^\d+\s+<\.\.\. execve resumed>.*= 0$/.test(line)) execs.push([pid, /execve\("([^"]*)"/.exec(resumed)![1]!, resumed]);
    if (/^\d+\s+<\.\.\. execve resumed>/.test(line)) pending.delete(pid);
  }
  // a process runs what it last exec'd, else what its creator ran (threads, forks before exec);
  // the trace is in time order, so a parent's exec is seen before its child's
  const image = new Map<number, { path: string; provider: boolean }>();
  const imageOf = (pid: number) => {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && hops < 64; p = creator.get(p), hops++) {
      const img = image.get(p);
      if (img) return img;
    }
    return undefined;
  };
  const base = (path: string) => path.slice(path.lastIndexOf("/") + 1);
  const byProgram = new Map<string, number>();
  let commands = 0;
  for (const [pid, path, line] of execs) {
    const parent = creator.get(pid);
    const parentImage = parent === undefined ? undefined : imageOf(parent);
    const name = base(path);
    // pulumi-resource-pulumi-nodejs (a shell script) starts: node …/@pulumi/pulumi/cmd/dynamic-provider …
    image.set(pid, { path, provider: name === "node" && /\/cmd\/dynamic-provider\/index\.js"/.test(line) });
    if (parentImage?.provider) {
      commands++;
      byProgram.set(name, (byProgram.get(name) ?? 0) + 1);
    }
  }
  return { commands, byProgram: [...byProgram].sort((a, b) => b[1] - a[1]) };
}
