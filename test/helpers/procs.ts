import { spawn, type ChildProcess } from "node:child_process";

/** Runs a shell command line after moving its shell into the given cgroup.procs files (exec: same pid). */
export function startIn(procsFiles: string[], command: string): ChildProcess {
  const join = procsFiles.map((f) => `echo $$ > ${f}`).join(" && ");
  return spawn("sh", ["-c", `${join} && exec ${command}`], { stdio: "ignore" });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
