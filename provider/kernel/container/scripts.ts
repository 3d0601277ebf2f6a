import { shellQuote as q } from "../../transport/transport";
import type { HostLayout } from "./layout";
import type { BundleFile } from "./files";
import { ensureRootfsMounted } from "./rootfs";
import { supervisorLock } from "./boot";
import { unpublishFunction } from "../network/nft";
import { ensureLxcfsScript } from "./lxcfs";
import { createThroughLogPipe, restoreThroughLogPipe } from "./log-writer";
import { emptyNetFlag } from "./migrate";

export interface CgroupWrite {
  /** The input it carries, for the error message. */
  key: string;
  path: string;
  value: string;
}

/**
 * Caps the config's RLIMIT_NOFILE at this shell's hard limit: the runtime cannot set one above its
 * own (root here lacks CAP_SYS_RESOURCE), and whoever starts it (the provider from any shell, the
 * supervisor, a boot) may have a lower one than the provider that wrote the config.
 * config.json is JSON.stringify(…, null, 2): "hard" and "soft" follow the "type" line.
 */
function capNofile(config: string, hard: number): string[] {
  const c = q(config);
  // the config holds `hard` (its writer's limit): a shell with at least that runs no process here
  return [
    `h=$(ulimit -Hn); if [ "$h" != unlimited ] && [ "$h" -lt ${Math.trunc(hard)} ]; then`,
    `  set -- $(sed -n '/"type": "RLIMIT_NOFILE"/{n;s/[^0-9]//gp;n;s/[^0-9]//gp;}' ${c})`,
    `  if [ $# = 2 ] && [ "$h" -lt "$1" ]; then s=$2; [ "$h" -lt "$s" ] && s=$h; sed -i "/\\"type\\": \\"RLIMIT_NOFILE\\"/{n;s/[0-9][0-9]*/$h/;n;s/[0-9][0-9]*/$s/;}" ${c}; fi`,
    `fi`,
  ];
}

/** The /etc files bind-mounted from the bundle (oci-spec.ts), whose targets kslice makes in the rootfs. */
export const etcFiles = ["resolv.conf", "hosts", "hostname"];

/**
 * Makes missing /etc mount targets in a mounted rootfs, as the host's root (a user-namespaced
 * runtime may not create them in a root-owned /etc): a container made before /etc/hostname was
 * mounted gets it at its next start. Exclusive creates into a real /etc only, as at create; shell
 * builtins, no process.
 */
function etcTargets(rootfs: string): string {
  const etc = `${rootfs}/etc`;
  const made = etcFiles.map((f) => q(`${etc}/${f}`)).map((f) => `[ -e ${f} ] || [ -L ${f} ] || { set -C; : > ${f}; set +C; }`);
  return `if [ -d ${q(etc)} ] && [ ! -L ${q(etc)} ]; then ${made.join("; ")}; fi`;
}

/** The bundle's start.sh (startScript's arguments). */
export function startShFile(
  runtime: string,
  layout: HostLayout,
  id: string,
  writes: CgroupWrite[],
  nofileHard: number,
  netScript?: string,
  lower?: string,
  procViews?: { prefix: string },
): BundleFile {
  return { path: `${layout.bundle(id)}/start.sh`, content: startScript(runtime, layout, id, writes, nofileHard, netScript, lower, procViews) };
}

/**
 * The script that starts a container from its bundle: runtime create (stdio a pipe to the log's writer) or a live migration's restore, the
 * container's own limits written to its new cgroup, runtime start. The provider and the host's
 * supervisor (restart policies) run the same script, so a restart keeps the declared limits; over
 * SSH a start is one round trip. A write the kernel refuses for order (v1 memsw) is retried once.
 * `netScript` (the bundle's net.sh) puts the container on its networks before its init runs.
 * `procViews`: the prefix's lxcfs serves its mount before the runtime binds the views from it.
 */
export function startScript(
  runtime: string,
  layout: HostLayout,
  id: string,
  writes: CgroupWrite[],
  nofileHard: number,
  netScript?: string,
  lower?: string,
  procViews?: { prefix: string },
): string {
  const rt = `${runtime} --root ${q(layout.runtimeRoot)}`;
  const b = layout.bundle(id);
  return [
    "#!/bin/sh",
    `# written by kslice: starts container ${id}`,
    // after a reboot nothing is mounted and /run is empty: the rootfs is mounted again here
    ...(lower ? [ensureRootfsMounted(b, lower)] : []),
    etcTargets(`${b}/rootfs`),
    ...(procViews ? [ensureLxcfsScript(procViews.prefix, layout)] : []),
    // tests are shell builtins: a first start (every create) runs no process for these
    `[ -d ${q(layout.runtimeRoot)} ] || mkdir -p ${q(layout.runtimeRoot)}`,
    ...capNofile(`${b}/config.json`, nofileHard),
    // a restart's stopped container goes first; runc and crun keep a directory per container in their root
    `[ -e ${q(`${layout.runtimeRoot}/${id}`)} ] && ${rt} delete --force ${q(id)} >/dev/null 2>&1`,
    // the init's stdout and stderr are a pipe to the log's writer (log-writer.ts), not the log file:
    // CRIU restores a pipe, not a file outside the container's mounts (ARCHITECTURE.md, "Logs")
    // $kslice_restore (set by a live migration's start step, never by the supervisor or boot.sh):
    // the container comes back from the checkpoint images there instead of being created
    `if [ -n "\${kslice_restore:-}" ]; then`,
    ...restoreThroughLogPipe(rt, b, id, layout, runtime === "runc" ? emptyNetFlag : "").map((l) => `  ${l}`),
    `else`,
    ...createThroughLogPipe(rt, b, id, layout).map((l) => `  ${l}`),
    `fi`,
    `fail() { echo "$1: failed to write \\"$3\\" to $2: \${4##*: }" >&2; ${rt} delete --force ${q(id)} >/dev/null 2>&1; exit 1; }`,
    // first pass with the builtin; a refused write is retried once with coreutils' printf, whose
    // error names the errno (dash's builtin says "I/O error" for every refusal)
    ...writes.map((x, i) => `ok${i}=1; printf %s ${q(x.value)} > ${q(x.path)} 2>/dev/null || ok${i}=0`),
    ...writes.map(
      (x, i) => `[ $ok${i} = 1 ] || { err=$( (env printf %s ${q(x.value)} > ${q(x.path)}) 2>&1 ) || fail ${q(x.key)} ${q(x.path)} ${q(x.value)} "$err"; }`,
    ),
    // networks join between create and start: the init never runs without its interfaces
    ...(netScript
      ? [
          `pid=; read -r pid < ${q(`${b}/init.pid`)}; if ! err=$(sh ${q(netScript)} "$pid" new 2>&1 >/dev/null); then echo "$err" >&2; ${rt} delete --force ${q(id)} >/dev/null 2>&1; exit 1; fi`,
        ]
      : []),
    // a restored container runs already
    `[ -n "\${kslice_restore:-}" ] || exec ${rt} start ${q(id)}`,
  ].join("\n");
}

/**
 * One process per host, started with the first container and gone with the last: restarts
 * containers whose policy says so, and keeps every log under its cap (the newest half is kept).
 * runc keeps no exit status, so "on-failure" restarts any exit that kslice did not ask for.
 * Logs are trimmed once per interval: the cap holds to within one interval of output. A container
 * that keeps failing is restarted after 1, 2, 4 … 64 s (bundle file "backoff", cleared by a start
 * from kslice and after a minute up).
 */
export function supervisorScript(runtime: string, layout: HostLayout, intervalSeconds = 1): string {
  const rt = `${runtime} --root ${q(layout.runtimeRoot)}`;
  const c = q(layout.containers);
  const prefix = layout.stateDir.split("/").pop()!;
  const sizes = q(`${layout.runDir}/supervisor.logs`);
  // A quiet tick runs two processes whatever the number of containers (find, sleep); everything else
  // is the shell's own reads: a process is dear on a slow host, and one per container and second is
  // dear at hundreds of containers.
  const running = (id: string) => `*" ${id}=running "*|*" ${id}=created "*|*" ${id}=creating "*|*" ${id}=paused "*`;
  return [
    "#!/bin/sh",
    "# written by kslice: restart policies and log caps for the containers of this prefix",
    // one per prefix: the lock is held as long as this shell lives (the kernel drops it on death)
    `exec 9>${q(supervisorLock(layout))} && flock -n 9 || exit 0`,
    unpublishFunction(prefix, layout.runDir),
    // live BUNDLE: its init (init.pid) is a live process in the container's own cgroup, read by the
    // shell. A pid reused by another process (after a reboot, or a wrap) is in another cgroup.
    // "Not live" is confirmed with the runtime before anything is done.
    `live() {`,
    // (the runtime writes the pid without a newline: read fails at the end of the file but sets it)
    `  pid=; st=; { read -r pid < "$1/init.pid"; } 2>/dev/null; [ -n "$pid" ] && { read -r st < "/proc/$pid/stat"; } 2>/dev/null; [ -n "$st" ] || return 1`,
    // a zombie (state Z after the command's closing parenthesis) is dead; the runtime says stopped too
    `  case \${st##*) } in Z*) return 1 ;; esac`,
    // its cgroup is /<prefix>/[<budgets>/]<id>[/<the container's own children>] in some hierarchy
    `  { while read -r l; do case "$l/" in *":/${prefix}/\${1##*/}/"*|*":/${prefix}/"*"/\${1##*/}/"*) return 0 ;; esac; done < "/proc/$pid/cgroup"; } 2>/dev/null`,
    `  return 1`,
    `}`,
    // the runtime is asked once per tick at most, only when some init looks dead: " <id>=<status> …"
    // (column 3 of both runc's and crun's list), matched by the shell's case
    `states() { [ -n "$states" ] || states=" $(${rt} list 2>/dev/null | while read -r id _ st _; do printf '%s=%s ' "$id" "$st"; done)"; }`,
    `while [ -d ${c} ]; do`,
    `  set -- ${c}/*/kslice.json; [ -e "$1" ] || break`,
    `  states=; now=`,
    // logs over their cap: one find for the sizes (into a file: a pipe would fork a subshell for
    // the loop), the caps read by the shell
    `  find ${c} -mindepth 2 -maxdepth 2 -name log -printf '%s %h\\n' > ${sizes}`,
    `  while read -r size b; do`,
    `    max=; { read -r max < "$b/logmax"; } 2>/dev/null`,
    `    [ -n "$max" ] && [ "$size" -gt "$max" ] || continue`,
    `    tail -c $((max / 2)) "$b/log" > "$b/log.tmp" && cat "$b/log.tmp" > "$b/log"; rm -f "$b/log.tmp"`,
    `  done < ${sizes}`,
    // containers that publish ports (their claims), whose rules go when their init dies: their
    // ports refuse at once instead of forwarding to an address nobody answers; net.sh puts them back
    `  for p in ${q(layout.ports)}/*; do`,
    `    [ -f "$p" ] || continue; id=\${p##*/}; b=${c}/$id`,
    `    [ -f "$b/stopped" ] || [ -f "$b/creating" ] || [ -f "$b/unpublished" ] || [ ! -f "$b/start.sh" ] || live "$b" && continue`,
    `    states; case "$states" in ${running("$id")}) continue ;; esac`,
    // under the bundle's lock (no start or stop of kslice's in between), and asking the runtime again
    `    ( exec 7>>"$b/lock"; flock -n 7 || exit 0; ${rt} state "$id" 2>/dev/null | grep -q '"status": "\\(running\\|created\\|paused\\)"' && exit 0; unpublish "$id" && : > "$b/unpublished" )`,
    `  done`,
    // restart policies other than "no" (a positive match, so that a restart file being rewritten,
    // empty for a moment, is not one)
    `  for k; do`,
    `    b=\${k%/kslice.json}; id=\${b##*/}; pol=; { read -r pol < "$b/restart"; } 2>/dev/null`,
    `    case $pol in always|on-failure) ;; *) continue ;; esac`,
    // an empty start.sh is a damaged bundle (boot.sh says so; the next up rewrites it): nothing to restart
    `    [ -f "$b/stopped" ] || [ -f "$b/creating" ] || [ ! -s "$b/start.sh" ] && continue`,
    // backoff: "<restarts> <not before>"; forgotten once the container stayed up for a minute
    `    n=0; until=0; [ -f "$b/backoff" ] && read -r n until < "$b/backoff"`,
    `    if live "$b"; then`,
    `      [ "$n" -gt 0 ] || continue; now=\${now:-$(date +%s)}; [ "$now" -gt $((until + 60)) ] && rm -f "$b/backoff"; continue`,
    `    fi`,
    `    states; case "$states" in ${running("$id")}) continue ;; esac`,
    `    now=\${now:-$(date +%s)}; [ "$now" -lt "$until" ] && continue`,
    `    echo "kslice: restarting $id (policy $pol), restart $((n + 1))" >> "$b/log"`,
    // under the bundle's lock, so a stop by kslice (which takes it to mark "stopped") cannot interleave
    `    flock -n "$b/lock" sh -c '[ -f "$1/stopped" ] || sh "$1/start.sh"' _ "$b" >/dev/null 2>>"$b/log"`,
    // the next restart waits 1, 2, 4 … up to 64 s
    `    d=$((1 << (n < 6 ? n : 6))); echo "$((n + 1)) $((now + d))" > "$b/backoff"`,
    `  done`,
    `  sleep ${intervalSeconds}`,
    `done`,
  ].join("\n");
}
