import { shellQuote as q } from "../../transport/transport";
import { moveSelfIntoCgroup } from "./boot";
import type { HostLayout } from "./layout";

/**
 * The container's own /proc (ARCHITECTURE.md, "/proc views: why lxcfs"): one lxcfs per host and
 * prefix, never a host-wide one, mounted at /run/<prefix>/lxcfs. It answers each read with the
 * reader's cgroup limits (found from the reader's pid), so one mount serves every container.
 */
export const lxcfsUnitName = (prefix: string) => `${prefix}-lxcfs.service`;
/** Where lxcfs runs on a host without systemd: a cgroup of its own, not its caller's. */
export const lxcfsCgroup = (prefix: string) => `${prefix}-lxcfs`;
export const lxcfsDir = (layout: HostLayout) => `${layout.runDir}/lxcfs`;

/** The files bind-mounted over the container's own, as LXC and Incus do: destination → path under the lxcfs mount. */
export const procViewFiles = [
  "/proc/meminfo",
  "/proc/cpuinfo",
  "/proc/stat",
  "/proc/uptime",
  "/proc/loadavg",
  "/proc/diskstats",
  "/proc/swaps",
  "/sys/devices/system/cpu/online",
];

/** The OCI mounts of the views; their sources live under the lxcfs mount (runc admits these /proc destinations). */
export function procViewMounts(dir: string): Record<string, unknown>[] {
  return procViewFiles.map((f) => ({ destination: f, type: "bind", source: `${dir}${f}`, options: ["bind", "ro", "nosuid", "nodev", "noexec"] }));
}

/**
 * lxcfs in a loop held by a flock (one per prefix): a lxcfs that dies is started again within a
 * second, after its dead mount ("Transport endpoint is not connected") is detached. Options:
 * --enable-cfs (CPUs from the cfs quota, not only the cpuset), -l (loadavg per container),
 * --enable-pidfd (no pid reuse races), its own pidfile (the default one is the host-wide lxcfs's).
 */
function loopScript(layout: HostLayout): string {
  const dir = q(lxcfsDir(layout));
  return [
    `exec 9>${q(`${layout.runDir}/lxcfs.lock`)}; flock -n 9 || exit 0`,
    `while :; do`,
    `  umount -l ${dir} 2>/dev/null; mkdir -p ${dir}`,
    `  lxcfs -f --enable-cfs -l --enable-pidfd -p ${q(`${layout.runDir}/lxcfs.pid`)} ${dir} 9>&- </dev/null >${q(`${layout.runDir}/lxcfs.log`)} 2>&1`,
    `  sleep 1`,
    `done`,
  ].join("\n");
}

const systemd = `[ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1`;

/**
 * For start.sh: makes sure the prefix's lxcfs serves its mount before the runtime binds from it
 * (one stat when it does). Where systemd runs, lxcfs is the transient unit <prefix>-lxcfs.service
 * (Restart=always); elsewhere it moves itself into a cgroup <prefix>-lxcfs. Waits 5 s at most.
 */
export function ensureLxcfsScript(prefix: string, layout: HostLayout): string {
  const dir = lxcfsDir(layout);
  const probe = q(`${dir}/proc/meminfo`);
  const cg = lxcfsCgroup(prefix);
  const moveSelf = [...moveSelfIntoCgroup(cg), loopScript(layout)].join("\n");
  return [
    `if [ ! -f ${probe} ]; then`,
    `  command -v lxcfs >/dev/null || { echo "lxcfs is not installed on this host (Debian: apt-get install lxcfs), and procViews is on" >&2; exit 1; }`,
    `  mkdir -p ${q(layout.runDir)}`,
    `  if ${systemd}; then`,
    `    systemctl is-active -q ${lxcfsUnitName(prefix)} || { systemctl reset-failed ${lxcfsUnitName(prefix)} 2>/dev/null; systemd-run --quiet --no-block --collect --property=Restart=always --property=RestartSec=1 --unit=${lxcfsUnitName(prefix)} --description=${q(`kslice /proc views (${prefix})`)} /bin/sh -c ${q(loopScript(layout))} >/dev/null 2>&1; }`,
    `  else`,
    `    setsid -f sh -c ${q(moveSelf)} </dev/null >/dev/null 2>&1`,
    `  fi`,
    `  i=0; until [ -f ${probe} ]; do i=$((i + 1)); [ $i -le 100 ] || { echo "lxcfs did not serve ${dir} within 5 s: $(tail -n 3 ${q(`${layout.runDir}/lxcfs.log`)} 2>/dev/null)" >&2; exit 1; }; sleep 0.05; done`,
    `fi`,
  ].join("\n");
}

/** Stops the prefix's lxcfs and detaches its mount (the prefix's last container, Host delete). Idempotent. */
export function stopLxcfsScript(prefix: string, layout: HostLayout): string {
  const cg = lxcfsCgroup(prefix);
  return [
    `if ${systemd}; then systemctl stop ${lxcfsUnitName(prefix)} >/dev/null 2>&1; systemctl reset-failed ${lxcfsUnitName(prefix)} >/dev/null 2>&1; fi`,
    // the loop first (it would start lxcfs again), then lxcfs
    `for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do`,
    `  d="$m/${cg}"; [ -d "$d" ] || continue`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do xargs -r kill -9 2>/dev/null < "$d/cgroup.procs"; rmdir "$d" 2>/dev/null && break; sleep 0.2; done`,
    `done`,
    `umount -l ${q(lxcfsDir(layout))} 2>/dev/null; rmdir ${q(lxcfsDir(layout))} 2>/dev/null`,
    `true`,
  ].join("\n");
}
