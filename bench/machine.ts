// Facts about the machine the bench runs on, printed at the top of a run and used by the baselines.
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";
import { sh } from "./common";

export function cgroupMode(): string {
  const t = sh("stat -fc %T /sys/fs/cgroup").out.trim();
  if (t === "cgroup2fs") return "unified (v2)";
  const u = sh("stat -fc %T /sys/fs/cgroup/unified 2>/dev/null").out.trim();
  return u === "cgroup2fs" ? "hybrid (v1 controllers + v2 tree)" : "legacy (v1)";
}

export function nofileHard(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === "unlimited" || hard === undefined ? 1024 * 1024 : Number(hard);
}

export function limitHard(what: string): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith(what));
  const hard = line?.trim().split(/\s{2,}/)[2];
  return hard === "unlimited" || hard === undefined ? 4 * 1024 * 1024 : Number(hard);
}

export const loadAverage = () => readFileSync("/proc/loadavg", "utf8").trim();

/** One line per fact, as printed at the top of a run. */
export function machineFacts(): [string, string][] {
  return [
    ["date", new Date().toString()],
    ["machine", `${sh("uname -n").out.trim()}, nproc ${sh("nproc").out.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["kernel", sh("uname -r").out.trim()],
    ["cgroup mode", cgroupMode()],
    ["load average", loadAverage()],
    ["other load", `${sh("pgrep -c qemu-system || true").out.trim() || 0} qemu-system processes running`],
    ["runc", sh("runc --version | head -n1").out.trim()],
  ];
}
