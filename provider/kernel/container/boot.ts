import { shellQuote as q } from "../../transport/transport";
import type { HostLayout } from "./layout";
import { mountDiskShell } from "./disk";

/**
 * What brings a prefix back after a boot (/run empty, cgroups, bridges, nftables rules and mounts
 * gone; /var/lib kept): boot.sh in the prefix's state dir, run at boot by a per-prefix systemd
 * unit (or by hand, or from rc.local / cron @reboot elsewhere). It is idempotent: what runs is
 * left alone.
 */
export const bootUnitName = (prefix: string) => `${prefix}-boot.service`;
export const supervisorUnitName = (prefix: string) => `${prefix}-supervisor.service`;
/** Where the supervisor runs on a host without systemd: a cgroup of its own, not its caller's. */
export const supervisorCgroup = (prefix: string) => `${prefix}-supervisor`;
/** Held by the running supervisor for as long as it lives. */
export const supervisorLock = (layout: HostLayout) => `${layout.runDir}/supervisor.lock`;
const unitPath = (prefix: string) => `/etc/systemd/system/${bootUnitName(prefix)}`;
export const bootScriptPath = (layout: HostLayout) => `${layout.stateDir}/boot.sh`;
/** What installing or removing the boot unit writes under /etc (durable.ts syncs them). */
export const bootUnitWrites = (prefix: string) => [unitPath(prefix), `/etc/systemd/system/multi-user.target.wants/${bootUnitName(prefix)}`];

/**
 * A bundle's records that a start reads: empty (written, never synced before a power loss: ext4's
 * delayed allocation) or, for kslice.json, not one JSON object, they make the bundle damaged, not
 * absent. Shell for a loop over bundles "$b": sets $bad to the damaged files' names (empty: sound).
 * kslice.json must be there (its create finished: no "creating" marker); the others only when present
 * (a container created stopped has no config.json or start.sh until it first starts).
 */
export const damagedRecordsCheck = [
  `bad=; l=; { IFS= read -r l || [ -n "$l" ]; } 2>/dev/null < "$b/kslice.json"; case $l in '{'*'}') ;; *) bad=" kslice.json" ;; esac`,
  `for f in config.json start.sh net.sh; do [ -e "$b/$f" ] && [ ! -s "$b/$f" ] && bad="$bad $f"; done`,
].join("\n");

/** The line a boot writes to a damaged bundle's log and its own stderr (the unit's journal); `kslice events` and `ps` count it. */
export const damagedLogPrefix = "kslice: damaged records";
export const supervisorPath = (layout: HostLayout) => `${layout.stateDir}/supervisor.sh`;

/** True on a host booted with systemd (sd_booted's test). */
const systemd = `[ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1`;

/**
 * Lines that move the running shell into the cgroup `cg` at the root of every hierarchy (a v1
 * cpuset child needs cpus and mems first): a daemon away from its caller's cgroup where no
 * systemd unit holds it.
 */
export function moveSelfIntoCgroup(cg: string): string[] {
  // the shell's own read and tests, no process per hierarchy: every container's log writer runs this
  return [
    `while read -r _ m t _; do`,
    `  case $t in cgroup | cgroup2) ;; *) continue ;; esac`,
    `  d="$m/${cg}"; [ -d "$d" ] || mkdir -p "$d" 2>/dev/null || continue`,
    `  if [ -f "$d/cpuset.cpus" ]; then`,
    `    c=; { read -r c < "$d/cpuset.cpus"; } 2>/dev/null`,
    `    [ -n "$c" ] || { cat "$m/cpuset.cpus" > "$d/cpuset.cpus"; cat "$m/cpuset.mems" > "$d/cpuset.mems"; } 2>/dev/null`,
    `  fi`,
    `  echo $$ > "$d/cgroup.procs" 2>/dev/null`,
    `done < /proc/mounts`,
  ];
}

/**
 * Starts the prefix's supervisor away from the caller: as a transient systemd unit where systemd
 * runs (a login session or CI job ending kills its cgroup; systemd restarts it if it is killed),
 * else detached (setsid) in a cgroup of its own in every hierarchy. Its flock keeps it to one per prefix, so starting it twice is harmless.
 */
export function launchSupervisorScript(prefix: string, layout: HostLayout): string {
  const script = q(supervisorPath(layout));
  const cg = supervisorCgroup(prefix);
  // the shell moves itself into <prefix>-supervisor in every hierarchy (a v1 cpuset child needs
  // cpus and mems first), then becomes the supervisor
  const moveSelf = [...moveSelfIntoCgroup(cg), `exec sh "$1"`].join("\n");
  return [
    `if ${systemd}; then`,
    // already active: systemd-run refuses the name, and the running one goes on
    `  systemctl is-active -q ${supervisorUnitName(prefix)} || systemd-run --quiet --no-block --collect --property=Restart=on-failure --property=RestartSec=5 --unit=${supervisorUnitName(prefix)} --description=${q(`kslice supervisor (${prefix})`)} /bin/sh ${script} >/dev/null 2>&1 || true`,
    `else`,
    // one process to learn that it runs (its lock is held), instead of a dozen to start one that exits at once
    `  flock -n -E 99 ${q(supervisorLock(layout))} true 2>/dev/null; [ $? = 99 ] || setsid -f sh -c ${q(moveSelf)} _ ${script} </dev/null >/dev/null 2>&1`,
    `fi`,
  ].join("\n");
}

/** Stops the supervisor and removes its cgroup (Host delete: the containers are gone by then). */
export function stopSupervisorScript(prefix: string): string {
  const cg = supervisorCgroup(prefix);
  return [
    `if ${systemd}; then systemctl stop ${supervisorUnitName(prefix)} >/dev/null 2>&1; fi`,
    `for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do`,
    `  d="$m/${cg}"; [ -d "$d" ] || continue`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do xargs -r kill 2>/dev/null < "$d/cgroup.procs"; rmdir "$d" 2>/dev/null && break; sleep 0.2; done`,
    `done`,
    `true`,
  ].join("\n");
}

/**
 * boot.sh: the prefix's networks (each one's ensure.sh, kept beside its record), then every
 * container whose bundle is complete and not marked stopped (its start.sh mounts the rootfs and
 * joins its networks), then the supervisor. A container already running is left alone.
 */
export function bootScript(runtime: string, prefix: string, layout: HostLayout): string {
  const rt = `${runtime} --root ${q(layout.runtimeRoot)}`;
  return [
    "#!/bin/sh",
    `# written by kslice: brings prefix ${prefix} back after a boot; safe to run again by hand`,
    `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH`,
    `mkdir -p ${q(layout.runtimeRoot)}`,
    `rc=0`,
    `for f in ${q(layout.networks)}/*/ensure.sh; do`,
    `  [ -f "$f" ] || continue`,
    `  sh "$f" >/dev/null || { echo "kslice: network \${f%/ensure.sh} could not be restored" >&2; rc=1; }`,
    `done`,
    // disk images first (disk.ts), stopped containers' too: their usage is read from the mount
    `for i in ${q(layout.containers)}/*/disk.img; do`,
    `  [ -f "$i" ] && [ ! -f "\${i%/disk.img}/creating" ] || continue`,
    `  b=\${i%/disk.img}; ( ${mountDiskShell('"$b"')}\n) || rc=1`,
    `done`,
    `for b in ${q(layout.containers)}/*; do`,
    // a create that never finished is the next up's to take back or remove, not a boot's
    `  [ -d "$b" ] && [ ! -f "$b/creating" ] || continue`,
    `  id=\${b##*/}`,
    damagedRecordsCheck,
    `  if [ -n "$bad" ]; then`,
    `    m="${damagedLogPrefix} of container $id (empty or unreadable:$bad): not started; the next pulumi up rewrites them from its declaration, keeping its writable layer"`,
    `    echo "$m" >&2; echo "$m" >> "$b/log"; rc=1; continue`,
    `  fi`,
    `  [ -f "$b/start.sh" ] && [ ! -f "$b/stopped" ] || continue`,
    `  case $(${rt} state "$id" 2>/dev/null | grep -o '"status": *"[a-z]*"') in *running*|*paused*) continue ;; esac`,
    `  rm -f "$b/backoff"`,
    `  flock -w 60 "$b/lock" sh -c '[ -f "$1/stopped" ] || sh "$1/start.sh"' _ "$b" </dev/null >/dev/null 2>>"$b/log" || { echo "kslice: container $id did not start (see $b/log)" >&2; rc=1; }`,
    `done`,
    launchSupervisorScript(prefix, layout),
    `exit $rc`,
  ].join("\n");
}

/** The systemd unit that runs boot.sh at boot. */
export function bootUnit(prefix: string, layout: HostLayout): string {
  return [
    "[Unit]",
    `Description=kslice: containers of prefix ${prefix} back after boot`,
    "After=local-fs.target network.target",
    `ConditionPathExists=${bootScriptPath(layout)}`,
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=/bin/sh ${bootScriptPath(layout)}`,
    "TimeoutStartSec=600",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** Installs the unit (systemd hosts only) and enables it, once: a second call costs a test. */
export function installBootUnitScript(prefix: string, layout: HostLayout): string {
  const unit = unitPath(prefix);
  return [
    `if ${systemd} && [ ! -f ${q(unit)} ]; then`,
    // parallel creates may race here: each renames its own temp file, and "enabled" is what counts
    // the unit runs at the next boot only, when systemd reads it from disk: no reload now (a slow one)
    `  t=$(mktemp ${q(`${unit}.XXXXXX`)}) && printf '%s' ${q(bootUnit(prefix, layout))} > "$t" && chmod 644 "$t" && mv -f "$t" ${q(unit)} && systemctl enable -q --no-reload ${bootUnitName(prefix)} ||`,
    `    systemctl is-enabled -q ${bootUnitName(prefix)} || { echo "cannot install ${unit}" >&2; exit 1; }`,
    `fi`,
  ].join("\n");
}

/** Disables and removes the unit (with the prefix's last container, or Host delete). */
export function removeBootUnitScript(prefix: string): string {
  const unit = unitPath(prefix);
  return [
    `if [ -f ${q(unit)} ] || [ -L /etc/systemd/system/multi-user.target.wants/${bootUnitName(prefix)} ]; then`,
    `  systemctl disable -q --no-reload ${bootUnitName(prefix)} >/dev/null 2>&1`,
    `  rm -f ${q(unit)} /etc/systemd/system/multi-user.target.wants/${bootUnitName(prefix)}`,
    // systemd holds the unit only if it ran at this boot (or was queried): then it must forget it
    `  [ "$(systemctl show -p LoadState --value ${bootUnitName(prefix)} 2>/dev/null)" = loaded ] && systemctl daemon-reload >/dev/null 2>&1`,
    `fi`,
    // a boot that failed (a damaged bundle) keeps the unit listed as failed once its file is gone
    `systemctl reset-failed ${bootUnitName(prefix)} >/dev/null 2>&1`,
    `true`,
  ].join("\n");
}
