import { createHash } from "node:crypto";
import { posix } from "node:path";
import { shellQuote as q } from "../../transport/transport";
import { claimAddressesScript, releaseScript, type AddressClaim } from "../network/allocate";
import { detachScript } from "../network/attach";
import { claimPortsScript, releasePortsScript, type PortDeclaration } from "../network/port-claims";
import { runTransaction, type Pause, type PauseHook, type Step } from "../transaction";
import type { Transport } from "../../transport/transport";
import type { CgroupDriver } from "../cgroup/driver";
import { bootScript, bootScriptPath, bootUnitWrites, installBootUnitScript, launchSupervisorScript, supervisorPath } from "./boot";
import { createLogScript, removeBundleScript } from "./bundle-state";
import { logWriterGone } from "./log-writer";
import { diskImage, diskMount, makeDiskScript, umountDiskScript } from "./disk";
import { writeFilesScript, type BundleFile } from "./files";
import type { HostLayout } from "./layout";
import { bundleAccessScript, bundleMode, overlayMount } from "./rootfs";
import { restoreLayerLines } from "./backup";
import { etcFiles, supervisorScript } from "./scripts";
import { claimOneRangeScript, releaseRangeScript } from "./uid-ranges";

/**
 * A container's whole operations (create, start, stop, delete), each as the steps of one script
 * (transaction.ts): reconcile decides the data (addresses, ranges, files), these say the shell.
 */
export interface ContainerSite {
  prefix: string;
  layout: HostLayout;
  runtime: "runc" | "crun";
  name: string;
  /** The shell that removes the container's cgroup node from every hierarchy (the cgroup driver's removeScript). */
  removeCgroup: string;
}

/** The site of container `name` whose cgroup is `path` below the prefix, its removal said by the host's cgroup driver. */
export function containerSite(
  cgroups: Pick<CgroupDriver, "removeScript">,
  prefix: string,
  layout: HostLayout,
  runtime: "runc" | "crun",
  name: string,
  path: string,
): ContainerSite {
  return { prefix, layout, runtime, name, removeCgroup: cgroups.removeScript(path, true) };
}

/** Exit status of the create's first step when the template is not built yet: build it (ensureLower), then run the create again. */
export const templateMissing = 76;

export interface NetClaims {
  ports: PortDeclaration[];
  addresses: AddressClaim[];
}

export interface StartPlan {
  /** config.json (secrets: over stdin), start.sh, restart, logmax, and the network files. */
  files: BundleFile[];
  uidBase: number | undefined;
  /** The claims the start's networking needs (idempotent: held ones are kept). */
  net?: NetClaims;
  /** A live migration's target: restore the container from the checkpoint images in this dir instead of creating it; the dir's parent (the images and the pre-dump rounds beside them) goes once restored. */
  restoreFrom?: string;
}

export interface CreatePlan {
  /** The cgroup path below the prefix: the "creating" marker's content. */
  cgroupPath: string;
  /** The overlay's lower: a template (built apart when missing) or the user's path. */
  lower: string;
  template: boolean;
  uid?: { base: number; index: number };
  /** kslice.json: the spec hash, the lower, the owner, the uid base. */
  record: string;
  /** Files of a stopped container's networking (a running one's go with start.files). */
  netFiles: BundleFile[];
  net?: NetClaims;
  start?: StartPlan;
  /** A disk limit: the writable layer goes into an ext4 image of this size (disk.ts). */
  disk?: { bytes: number; inodes?: number };
  /** A backup file whose layer fills the upper before the overlay is mounted (backup.ts). */
  restore?: string;
}

const rt = (s: ContainerSite) => `${s.runtime} --root ${q(s.layout.runtimeRoot)}`;
const bundleOf = (s: ContainerSite) => s.layout.bundle(s.name);

/**
 * Run once at create, before the container ever ran (its rootfs holds only the image): the
 * "stopped" marker, so that the supervisor leaves the new bundle alone until kslice starts it, and
 * the targets of the /etc bind mounts, made as the host's root (a user-namespaced runtime may not
 * create them in a root-owned /etc). Exclusive creates (set -C) into a real /etc only: nothing is
 * made through a symlink or over an image's own file.
 */
function etcTargetsScript(rootfs: string, stopped?: string): string {
  const etc = q(`${rootfs}/etc`);
  return [
    ...(stopped ? [`: > ${q(stopped)}`] : []),
    `[ -L ${etc} ] && exit 0`,
    `[ -d ${etc} ] || mkdir ${etc} || exit 1`,
    `set -C`,
    ...etcFiles.map((f) => `[ -e ${q(`${rootfs}/etc/${f}`)} ] || [ -L ${q(`${rootfs}/etc/${f}`)} ] || : > ${q(`${rootfs}/etc/${f}`)}`),
    `exit 0`,
  ].join("\n");
}

/**
 * Writes a file shared by the prefix's containers: each writer renames its own temp file (parallel
 * creates). Its second line names its content's hash, so a create that finds it current (all but
 * the first, and every create after an upgrade's first) reads one line with the shell's own `read`
 * and writes nothing.
 */
function putShared(path: string, content: string): string {
  const stamp = `# kslice content ${createHash("sha256").update(content).digest("hex").slice(0, 16)}`;
  const [first = "", ...rest] = content.split("\n");
  const stamped = first.startsWith("#!") ? [first, stamp, ...rest].join("\n") : `${stamp}\n${content}`;
  const body = Buffer.from(stamped, "utf8")
    .toString("base64")
    .replace(/.{1,76}/g, "$&\n");
  return [
    `l1= l2=; { read -r l1; read -r l2; } < ${q(path)} 2>/dev/null`,
    `if [ "$l1" != ${q(stamp)} ] && [ "$l2" != ${q(stamp)} ]; then`,
    `t=$(mktemp ${q(`${path}.XXXXXX`)}) || exit 1\nbase64 -d > "$t" <<'KSLICE_B64' || exit 1\n${body}KSLICE_B64\nchmod 600 "$t" && mv -f "$t" ${q(path)} || exit 1`,
    `fi`,
  ].join("\n");
}

/**
 * The host's one supervisor (restart policies, log caps; its own flock keeps it to one per prefix),
 * and what brings the prefix back after a boot: boot.sh and, on systemd hosts, its unit.
 * Scripts are replaced by rename: a running shell keeps reading the text it started with.
 */
export function supervisorStep(s: ContainerSite): Step {
  return {
    name: "supervisor",
    run: [
      putShared(supervisorPath(s.layout), supervisorScript(s.runtime, s.layout)),
      putShared(bootScriptPath(s.layout), bootScript(s.runtime, s.prefix, s.layout)),
      installBootUnitScript(s.prefix, s.layout),
      launchSupervisorScript(s.prefix, s.layout),
    ].join("\n"),
    writes: [supervisorPath(s.layout), bootScriptPath(s.layout), ...bootUnitWrites(s.prefix)],
  };
}

/**
 * The claims of ports and addresses, each undone by giving back all the container's claims of its
 * kind. `fresh`: a create's, which holds no claim yet (no ports: nothing to claim or give back).
 */
function claimSteps(s: ContainerSite, net: NetClaims, fresh = false): Step[] {
  return [
    ...(fresh && !net.ports.length
      ? []
      : [
          {
            name: "ports",
            run: claimPortsScript(s.layout, s.name, net.ports),
            undo: releasePortsScript(s.layout, s.name),
            writes: [`${s.layout.ports}/${s.name}`, s.layout.ports],
          },
        ]),
    ...(net.addresses.length
      ? [
          {
            name: "addresses",
            run: claimAddressesScript(s.layout, s.name, net.addresses, fresh),
            undo: releaseScript(
              s.layout,
              s.name,
              net.addresses.map((a) => a.network),
            ),
            // a claim that moved leaves its old name: the directory's fsync puts the removal on disk
            writes: net.addresses.flatMap((a) => [`${s.layout.network(a.network)}/addresses/${a.address}`, `${s.layout.network(a.network)}/addresses`]),
          },
        ]
      : []),
  ];
}

/** Deletes the runtime's container (idempotent: one that does not exist is fine). */
const runtimeDelete = (s: ContainerSite) =>
  `o=$(${rt(s)} delete --force ${q(s.name)} 2>&1) || case $o in *"does not exist"*|*"not exist"*|*"No such file"*) ;; *) echo "$o" >&2; exit 1 ;; esac`;

/**
 * Starts the container from its bundle with the same script the host's supervisor uses to restart
 * it, under the bundle's lock (the supervisor takes it to restart: the two never start it at once).
 * A failed start takes the runtime's container, its cgroup and its veths with it.
 */
function startSteps(s: ContainerSite, p: StartPlan, creating: boolean): Step[] {
  const b = bundleOf(s);
  return [
    // claims made by a start of an existing container stay when it fails (the declaration keeps them)
    ...(p.net ? claimSteps(s, p.net).map((x) => (creating ? x : { ...x, undo: undefined })) : []),
    // a bundle this create made has its access already
    {
      name: "files",
      run: [...(creating ? [] : [bundleAccessScript(b, p.uidBase)]), writeFilesScript(p.files, creating)].join(" || exit 1\n"),
      writes: [b, ...p.files.map((f) => f.path)],
    },
    {
      name: "start",
      // the step's own subshell takes the lock and runs start.sh (which ends in exec of the runtime's start)
      run: [
        `exec 9>>${q(`${b}/lock`)} && flock -w 60 9 || { echo "timed out waiting for the lock of container ${s.name}" >&2; exit 1; }`,
        // a new bundle has neither
        ...(creating ? [] : [`rm -f ${q(`${b}/stopped`)} ${q(`${b}/backoff`)} || exit 1`]),
        // start.sh restores instead of creating when $kslice_restore names the images (then it returns);
        // the images go after it, with the pre-dump rounds beside them that they name as parents
        ...(p.restoreFrom
          ? [`kslice_restore=${q(p.restoreFrom)}`, `. ${q(`${b}/start.sh`)}`, `rm -rf ${q(posix.dirname(p.restoreFrom))}`]
          : [`. ${q(`${b}/start.sh`)}`]),
      ].join("\n"),
      // the "stopped" mark's removal (a boot starts it again); start.sh may have capped config.json's nofile
      writes: [b, `${b}/config.json`],
      undo: [runtimeDelete(s), logWriterGone(b), s.removeCgroup, detachScript(s.prefix, s.layout, s.name)].map((x) => `(\n${x}\n)`).join("\n"),
    },
    supervisorStep(s),
  ];
}

/**
 * What the kernel shows of the container once the operation is done: the runtime's state, then
 * its init's /proc status and uid_map (section markers @@status, @@uidmap); nothing when it has no
 * runtime state.
 */
function reportStep(s: ContainerSite): Step {
  return {
    name: "report",
    output: true,
    run: [
      `st=$(${rt(s)} state ${q(s.name)} 2>/dev/null) || exit 0`,
      `printf '%s\\n' "$st"`,
      // "pid": 123 (runc) or "pid" : 123: the shell's own expansions, no process
      `case $st in *'"pid"'*) pid=\${st#*'"pid"'}; pid=\${pid#*:}; pid=\${pid# }; pid=\${pid%%[!0-9]*} ;; *) pid= ;; esac`,
      // read by the shell (no cat): a line at a time
      `show() { while IFS= read -r l; do printf '%s\\n' "$l"; done < "$1"; } 2>/dev/null`,
      `echo @@status; [ -z "$pid" ] || show /proc/$pid/status; echo @@uidmap; [ -z "$pid" ] || show /proc/$pid/uid_map; exit 0`,
    ].join("\n"),
  };
}

export function parseReport(out: string): { state?: { status: string; pid: number; created: string }; status?: string; uidMap?: string } {
  if (!out.trim()) return {};
  const [state = "", rest = ""] = out.split("@@status\n");
  const [status = "", uidMap = ""] = rest.split("@@uidmap\n");
  const s = JSON.parse(state) as { status: string; pid: number; created: string };
  return { state: { status: s.status, pid: s.pid, created: s.created }, status: status || undefined, uidMap: uidMap || undefined };
}

/**
 * A create, whole: template check, uid range, bundle (marked "creating" until the last step),
 * rootfs, /etc targets, kslice.json, log, network claims and files, and for a running container
 * the start and the supervisor; then the report. Test pause points: bundle, mount, spec, start.
 */
export function createSteps(s: ContainerSite, p: CreatePlan): (Step | Pause)[] {
  const b = bundleOf(s);
  const steps: (Step | Pause)[] = [
    {
      name: "rootfs",
      run: p.template
        ? `[ -d ${q(p.lower)} ] || exit ${templateMissing}`
        : `[ -d ${q(p.lower)} ] || { echo ${q(`rootfs.path: ${p.lower} is not a directory on the host`)} >&2; exit 1; }`,
    },
    // the containers dir lists names only to root; search stays open for user-namespaced roots
    {
      name: "dirs",
      run: `[ -d ${q(s.layout.runtimeRoot)} ] || mkdir -p ${q(s.layout.runtimeRoot)} || exit 1\nchmod 0711 ${q(s.layout.containers)} 2>/dev/null || { mkdir -p ${q(s.layout.containers)} && chmod 0711 ${q(s.layout.containers)}; }`,
      writes: [s.layout.containers],
    },
    // claimed at create, stopped or not: a container keeps its range while it exists
    ...(p.uid
      ? [
          {
            name: "uid-range",
            run: claimOneRangeScript(s.layout, s.name, p.uid.index),
            undo: releaseRangeScript(s.layout, s.name),
            writes: [`${s.layout.uidRanges}/${p.uid.index}`],
          },
        ]
      : []),
    {
      // exclusive: a bundle of this name that exists is another's (or a create's left over: reconcile removes those first)
      name: "bundle",
      run: [
        // made with its access (bundleAccessScript): root's group, or the user namespace's for search
        `mkdir -m ${bundleMode(p.uid?.base)} ${q(b)} || exit 1`,
        // "creating" marks the bundle incomplete until the create's last step removes it
        `{ ${p.uid ? `chgrp ${p.uid.base} ${q(b)} && ` : ""}printf '%s' ${q(p.cgroupPath)} > ${q(`${b}/creating`)}; } || { rm -rf ${q(b)}; exit 1; }`,
      ].join("\n"),
      undo: `rm -rf ${q(b)}`,
      undoWhenDone: true,
      writes: [b],
    },
    { pause: "bundle" },
    {
      name: "mount",
      run: p.disk
        ? [
            `mkdir -p ${q(`${b}/rootfs`)} || exit 1`,
            makeDiskScript(b, p.disk.bytes, p.disk.inodes, p.uid?.base),
            ...(p.restore ? [`u=${q(diskMount(b))}`, ...restoreLayerLines(p.restore, p.uid?.base)] : []),
            overlayMount(b, p.lower, diskMount(b)),
          ].join("\n")
        : [
            `mkdir -p ${q(`${b}/upper`)} ${q(`${b}/work`)} ${q(`${b}/rootfs`)} || exit 1`,
            ...(p.uid ? [`chown ${p.uid.base}:${p.uid.base} ${q(`${b}/upper`)} || exit 1`] : []),
            ...(p.restore ? [`u=${q(b)}`, ...restoreLayerLines(p.restore, p.uid?.base)] : []),
            overlayMount(b, p.lower),
          ].join("\n"),
      // the writable layer's directories (the rootfs's fsync reaches the upper through the overlay)
      writes: p.disk ? [`${diskMount(b)}/upper`, `${diskMount(b)}/work`, `${b}/rootfs`, diskImage(b)] : [`${b}/upper`, `${b}/work`, `${b}/rootfs`],
      // the image's loop device goes with its umount; the bundle's undo removes the image
      undo: `if mountpoint -q ${q(`${b}/rootfs`)}; then umount ${q(`${b}/rootfs`)} || umount -l ${q(`${b}/rootfs`)}; fi${p.disk ? `\n${umountDiskScript(b)}` : ""}`,
    },
    { pause: "mount" },
    // a container created stopped is marked so; one that starts is kept from the supervisor by "creating" alone
    {
      name: "etc",
      run: etcTargetsScript(`${b}/rootfs`, p.start ? undefined : `${b}/stopped`),
      writes: [`${b}/stopped`, ...etcFiles.map((f) => `${b}/rootfs/etc/${f}`), `${b}/rootfs/etc`, `${b}/upper/etc`],
    },
    { name: "record", run: writeFilesScript([{ path: `${b}/kslice.json`, content: p.record }], true), writes: [`${b}/kslice.json`] },
    { pause: "spec" },
    { name: "log", run: createLogScript(`${b}/log`), writes: [`${b}/log`] },
  ];
  // claimed at create, stopped or not: a container keeps its addresses and ports while it exists
  if (p.net) steps.push(...claimSteps(s, p.net, true));
  if (p.netFiles.length) steps.push({ name: "network-files", run: writeFilesScript(p.netFiles, true), writes: p.netFiles.map((f) => f.path) });
  if (p.start) steps.push(...startSteps(s, p.start, true), { pause: "start" });
  // the marker's removal is on disk with the rest (durable.ts): a boot then finds the bundle complete
  steps.push({ name: "finish", run: `rm -f ${q(`${b}/creating`)}`, writes: [b] }, reportStep(s));
  return steps;
}

/**
 * A start of an existing container (update, adoption): its files written from the declaration,
 * then started; the report follows. `filesOnly`: the files alone (what a later start runs).
 */
export function startContainerSteps(s: ContainerSite, p: StartPlan, filesOnly = false): Step[] {
  const steps = startSteps(s, p, false);
  return filesOnly ? steps.filter((x) => x.name !== "start" && x.name !== "supervisor") : [...steps, reportStep(s)];
}

/**
 * Marks the coming exit as asked for. Taken under the bundle's lock, which the supervisor holds
 * while it restarts: no restart can begin after this, and one under way is over.
 */
function markStopped(s: ContainerSite): string {
  const b = bundleOf(s);
  return `if [ -d ${q(b)} ]; then flock -w 60 ${q(`${b}/lock`)} touch ${q(`${b}/stopped`)} || exit 1; fi`;
}

/** Only the "stopped" mark (an init already gone: neither the supervisor nor a boot starts it again). */
export const markStoppedSteps = (s: ContainerSite): Step[] => [{ name: "stop", run: markStopped(s), writes: [`${bundleOf(s)}/stopped`] }];

/**
 * Stops the init: thawed first (a frozen init cannot act on SIGTERM), SIGTERM, SIGKILL after the
 * grace period, then the runtime's container deleted. The grace is waited only when the init has a
 * SIGTERM handler: the kernel drops a signal to a PID namespace's init that it does not catch
 * (pid_namespaces(7)), so for `sleep` or a plain `sh -c` the wait could only end in SIGKILL anyway.
 * The wait is measured by the clock and polls /proc (no runtime process per poll).
 */
function stopInit(s: ContainerSite, graceMs: number): string {
  const field = (k: string) => `$(printf '%s\\n' "$j" | sed -n 's/^ *"${k}": *"*\\([a-z0-9]*\\)"*,*$/\\1/p')`;
  const seconds = Math.ceil(graceMs / 1000);
  return [
    markStopped(s),
    `j=$(${rt(s)} state ${q(s.name)} 2>/dev/null); s=${field("status")}; pid=${field("pid")}`,
    `[ "$s" = paused ] && ${rt(s)} resume ${q(s.name)} 2>/dev/null`,
    // alive: the init's /proc entry exists and is not a zombie waiting for its parent
    `alive() { [ "\${pid:-0}" -gt 0 ] && read -r l 2>/dev/null </proc/$pid/stat && case \${l##*) } in Z*|X*) return 1 ;; esac; }`,
    `if [ -n "$s" ] && [ "$s" != stopped ] && alive; then`,
    ...(seconds > 0
      ? [
          `  cgt=; while read -r k v; do [ "$k" = SigCgt: ] && cgt=$v; done </proc/$pid/status 2>/dev/null`,
          `  if [ -n "$cgt" ] && [ $((0x\${cgt#\${cgt%????}} >> 14 & 1)) = 1 ]; then`,
          `    ${rt(s)} kill ${q(s.name)} TERM 2>/dev/null; end=$(($(date +%s) + ${seconds}))`,
          `    while alive && [ "$(date +%s)" -le "$end" ]; do sleep 0.1; done`,
          `  fi`,
        ]
      : []),
    `  if alive; then ${rt(s)} kill ${q(s.name)} KILL 2>/dev/null; i=0; while alive && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; fi`,
    `fi`,
    runtimeDelete(s),
    // the log's writer ends with the container's last process (log-writer.ts)
    logWriterGone(bundleOf(s)),
  ].join("\n");
}

/**
 * Stops a container and keeps its bundle and claims: init, runtime state and cgroup (runc leaves
 * the directory) go, and its veths and port rules (a stopped container's ports forward nowhere).
 */
export function stopContainerSteps(s: ContainerSite, graceMs: number): Step[] {
  return [
    // the "stopped" mark on disk: a boot after a power loss leaves the container down
    { name: "stop", run: stopInit(s, graceMs), writes: [`${bundleOf(s)}/stopped`] },
    { name: "cgroup", run: s.removeCgroup },
    { name: "network", run: detachScript(s.prefix, s.layout, s.name) },
  ];
}

/**
 * Removes everything a container has on the host, whatever state it is in (complete, or left by a
 * killed create): runtime state and processes, cgroup, veths and rules (named too: the kernel frees
 * a netns asynchronously), address and port claims, the rootfs mount, the uid range and the
 * bundle; the prefix's last container takes the boot unit with it. Idempotent.
 */
export function removeContainerSteps(s: ContainerSite, graceMs: number): Step[] {
  const b = bundleOf(s);
  return [
    ...stopContainerSteps(s, graceMs),
    {
      name: "claims",
      run: `(\n${releaseScript(s.layout, s.name)}\n) && ${releasePortsScript(s.layout, s.name)}`,
      writes: [`${s.layout.networks}/*/addresses`, s.layout.ports],
    },
    // then the disk image's mount, if any, and its loop device with it (disk.ts)
    {
      name: "rootfs",
      run: `if mountpoint -q ${q(`${b}/rootfs`)}; then umount ${q(`${b}/rootfs`)} || umount -l ${q(`${b}/rootfs`)}; fi\n${umountDiskScript(b)}`,
    },
    { name: "uid-range", run: releaseRangeScript(s.layout, s.name), writes: [s.layout.uidRanges] },
    // the bundle's removal on disk: a boot after a power loss does not start a deleted container
    { name: "bundle", run: removeBundleScript(s.prefix, s.layout, s.name), writes: [s.layout.containers, ...bootUnitWrites(s.prefix)] },
  ];
}

/**
 * The container's network claims and files; with `joinPid`, net.sh then runs against that running
 * init under the bundle's lock (networks joined live; a restart by the supervisor cannot
 * interleave, and net.sh checks the pid is the init's). Claims stay when a later step fails.
 */
export function networkSteps(s: ContainerSite, net: NetClaims | undefined, files: BundleFile[], joinPid?: number): Step[] {
  const b = bundleOf(s);
  return [
    ...(net ? claimSteps(s, net).map((x) => ({ ...x, undo: undefined })) : []),
    { name: "network-files", run: writeFilesScript(files), writes: files.map((f) => f.path) },
    ...(joinPid ? [{ name: "join", run: `flock -w 60 ${q(`${b}/lock`)} sh ${q(`${b}/net.sh`)} ${Math.trunc(joinPid)}` }] : []),
  ];
}

/** Bundle files (renamed into place, or rewritten in place), then the supervisor (a changed restart policy or log cap). */
export function filesAndSupervisorSteps(s: ContainerSite, files: BundleFile[]): Step[] {
  return [{ name: "files", run: writeFilesScript(files), writes: files.map((f) => f.path) }, supervisorStep(s)];
}

/**
 * Runs one of a container's operations (createSteps, startContainerSteps, stopContainerSteps,
 * networkSteps, …) as one transaction: its stdout, or a StepError naming the failing step.
 */
export function runOperation(t: Pick<Transport, "run">, steps: (Step | Pause)[], hook?: PauseHook): Promise<string> {
  return runTransaction(t, steps, { hook, timeoutMs: 180_000 });
}

/** Removes everything a container has on the host (removeContainerSteps), in one transaction. */
export async function removeContainerFromHost(t: Pick<Transport, "run">, s: ContainerSite, graceMs: number): Promise<void> {
  await runTransaction(t, removeContainerSteps(s, graceMs), { timeoutMs: 120_000 + graceMs });
}
