import { shellQuote as q } from "../../transport/transport";
import { moveSelfIntoCgroup } from "./boot";
import type { HostLayout } from "./layout";
import { emptyNetFlag } from "./migrate";

/**
 * A container's log (ARCHITECTURE.md, "Logs"): the init's stdout and stderr are an anonymous pipe
 * whose reader, the log's writer, appends to the bundle's `log`. The writer is coreutils' `tee -a`
 * (O_APPEND, so the supervisor's trim, which rewrites the file in place, is followed; its argv names
 * the log, so a writer left behind is found by the leak check). It runs outside the container's
 * cgroup and namespaces, in a cgroup of the prefix's own (`<prefix>-logs`), so neither a systemd
 * unit that started it (the boot unit, the supervisor's) nor a login session takes it along when it
 * ends. It ends by itself when the last process holding the pipe (the container's) is gone.
 * Why a pipe: CRIU restores a pipe to a new reader (runc's inherit-fd), not a file outside the
 * container's mounts.
 */
export const logWriterCgroup = (prefix: string) => `${prefix}-logs`;

/** The bundle's file holding the running writer's pid (written by the writer itself). */
export const logWriterPidFile = (bundle: string) => `${bundle}/log.pid`;

/**
 * The writer, reading stdin: moves itself into the prefix's log cgroup, records its pid, becomes
 * `tee -a LOG`. Its caller gives it the pipe as stdin and closes every other descriptor it may hold
 * (a bundle's lock held on fd 9 by a start step must not live on in it).
 */
export function logWriterCommand(prefix: string, log: string): string {
  const body = [...moveSelfIntoCgroup(logWriterCgroup(prefix)), `echo $$ > "$1.pid"`, `exec tee -a "$1" >/dev/null`].join("\n");
  return `setsid sh -c ${q(body)} _ ${q(log)} >/dev/null 2>&1 3>&- 5>&- 6>&- 7>&- 8>&- 9>&-`;
}

/**
 * Shell that runs `create` (a runtime command line: create or restore) with its stdout and stderr
 * on a new pipe to a new writer of `${b}/log`; $st is its exit status afterwards. The command's
 * status comes back on fd 4 of a command substitution, which ends when the command does (the
 * writer goes on in the background, holding no copy of it).
 */
export function runThroughLogPipe(create: string, b: string, prefix: string): string[] {
  return [
    `: > ${q(logWriterPidFile(b))}`,
    `st=$( { { ${create} </dev/null 2>&1 4>&-; echo $? >&4; } | ${logWriterCommand(prefix, `${b}/log`)} 4>&- & } 4>&1 )`,
  ];
}

/**
 * Shell: waits (2 s at most) until the bundle's log writer has written what it read and ended; the
 * container's processes must be gone (the pipe's write ends closed). A writer still there then is
 * killed: nothing of a stopped container stays. The pid is taken as the writer's only when its
 * command is tee (a pid file left from before a reboot names someone else).
 */
export function logWriterGone(b: string): string {
  const pidFile = q(logWriterPidFile(b));
  return [
    `lw=; { read -r lw < ${pidFile}; } 2>/dev/null`,
    `lwup() { l=; { read -r l < /proc/$lw/stat; } 2>/dev/null; case $l in *"(tee) "[!Z]*) return 0 ;; esac; return 1; }`,
    `if [ -n "$lw" ]; then i=0; while lwup && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done; lwup && kill -9 $lw 2>/dev/null; fi; true`,
  ].join("\n");
}

/** The start.sh lines of a runtime create through the log pipe; a failure shows the log's end (the runtime's error). */
export function createThroughLogPipe(rt: string, b: string, id: string, layout: HostLayout): string[] {
  const prefix = layout.stateDir.split("/").pop()!;
  return [
    ...runThroughLogPipe(`${rt} create --bundle ${q(b)} --pid-file ${q(`${b}/init.pid`)} ${q(id)}`, b, prefix),
    `if [ "$st" != 0 ]; then`,
    // the runtime's error went through the pipe: the writer has it on disk once it ended
    `  i=0; while [ ! -s ${q(logWriterPidFile(b))} ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done`,
    `  ${logWriterGone(b).split("\n").join("\n  ")}`,
    `  tail -c 2000 ${q(`${b}/log`)} >&2; exit 1`,
    `fi`,
  ];
}

/**
 * The start.sh lines of a live migration's restore (runc restore --detach from the images in
 * $kslice_restore) through a new log pipe: runc hands the pipe to criu for the checkpointed
 * init's stdout and stderr (inherit-fd), so the restored processes write to the new writer. A
 * failure shows criu's log's end.
 */
export function restoreThroughLogPipe(rt: string, b: string, id: string, layout: HostLayout, emptyNet = emptyNetFlag): string[] {
  const prefix = layout.stateDir.split("/").pop()!;
  const restore = `${rt} restore --detach${emptyNet} --bundle ${q(b)} --pid-file ${q(`${b}/init.pid`)} --image-path "$kslice_restore" --work-path "$kslice_restore" ${q(id)}`;
  return [
    ...runThroughLogPipe(restore, b, prefix),
    `if [ "$st" != 0 ]; then`,
    `  i=0; while [ ! -s ${q(logWriterPidFile(b))} ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done`,
    `  ${logWriterGone(b).split("\n").join("\n  ")}`,
    `  { tail -c 1000 ${q(`${b}/log`)}; echo "criu's restore.log ends:"; grep -E 'Error|Warn' "$kslice_restore/restore.log" | tail -n 12; } >&2; exit 1`,
    `fi`,
    // the namespace criu made holds only a loopback, down (runc brings it up at create, not at
    // restore); net.sh adds the networks next, as at a create
    `rp=; read -r rp < ${q(`${b}/init.pid`)}`,
    `nsenter --net=/proc/$rp/ns/net ip link set dev lo up || { echo "cannot bring the restored container's loopback up" >&2; ${rt} delete --force ${q(id)} >/dev/null 2>&1; exit 1; }`,
  ];
}

/** Removes the prefix's log cgroup (its last container gone, or Host delete): writers still in it are killed first. Idempotent. */
export function removeLogCgroupScript(prefix: string): string {
  const cg = logWriterCgroup(prefix);
  return [
    `for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do`,
    `  d="$m/${cg}"; [ -d "$d" ] || continue`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$d" 2>/dev/null && break; xargs -r kill -9 2>/dev/null < "$d/cgroup.procs"; sleep 0.1; done`,
    `done`,
    `true`,
  ].join("\n");
}
