import { readFileSync } from "node:fs";

/**
 * The file of a controller in the cgroup a process is in, on cgroup v1 (the controller's own
 * hierarchy, `N:pids:/path` in /proc/PID/cgroup) or v2 (the unified one, `0::/path`), for tests
 * that change a limit behind kslice's back.
 */
export function cgroupFileOf(pid: number, controller: string, file: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split(":"));
  const v1 = lines.find(([, controllers]) => controllers!.split(",").includes(controller));
  if (v1) return `/sys/fs/cgroup/${controller}${v1.slice(2).join(":")}/${file}`;
  const v2 = lines.find(([id, controllers]) => id === "0" && controllers === "");
  if (!v2) throw new Error(`cgroupFileOf: pid ${pid} is in no ${controller} cgroup (v1) nor a unified one`);
  return `/sys/fs/cgroup${v2.slice(2).join(":")}/${file}`;
}
