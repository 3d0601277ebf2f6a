import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/** Runs a shell command line after moving its shell into the given cgroup.procs files (exec: same pid). */
export function startIn(procsFiles: string[], command: string): ChildProcess {
  const join = procsFiles.map((f) => `echo $$ > ${f}`).join(" && ");
  return spawn("sh", ["-c", `${join} && exec ${command}`], { stdio: "ignore" });
}

/** Is the process running? A zombie (dead, not yet reaped by the host's init) is not. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** setpriv arguments that run a command as an unprivileged host user (nobody, no groups, no capabilities). */
export const asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--"];
