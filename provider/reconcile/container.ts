import type { NetDrift } from "../kernel/network/attach";
import { withDetail } from "./diff-detail";
import { createHash } from "node:crypto";
import { containerArgs, disk, type ContainerArgs } from "../../schema/container";
import { parseInput, type InputFailure } from "../../schema/issues";
import { resolveBlockDevices } from "../kernel/block-devices";
import { hostLayout, type HostLayout } from "../kernel/container/layout";
import { nofileLimit, ociSpec, specBeforeHostname, specBeforeProcViews } from "../kernel/container/oci-spec";
import { lxcfsDir } from "../kernel/container/lxcfs";
import { procViewsAdmission, procViewsRestart, procViewsStale } from "./container-proc";
import { sysctlDrift, writeSysctls } from "../kernel/container/sysctl";
import { sysctlPath } from "../../schema/sysctl";
import { baseOf, ensureLower, lowerOf } from "../kernel/container/rootfs";
import { backupAdmission } from "./container-backup";
import { OciRuntime } from "../kernel/container/runtime";
import { startShFile } from "../kernel/container/scripts";
import { writeBundleFiles, type BundleFile } from "../kernel/container/files";
import { readBundleRecord, readIncompleteBundles } from "../kernel/container/bundle-state";
import { expectedSecurity, parseSecurity, readSpecAndInit, securityDrift } from "../kernel/container/security";
import type { ClaimsSnapshot, ContainerSnapshot, Made, SnapshotCache } from "../kernel/container/snapshot";
import { chooseRuntime, recursiveReadOnly } from "../kernel/host-facts";
import { readOnlyBindFailures } from "./container-mounts";
import { hostResolvConf, hostSnapshots, initFiles } from "./container-reads";
import { readPathTests, sharedTests, type PathTest } from "../kernel/container/admission";
import { ensureRange, uidBaseOf } from "./container-userns";
import type { Usage } from "../kernel/cgroup/usage";
import { connectionKey } from "../kernel/connection";
import { hostContext, type HostContext } from "./host-context";
import { hostMoved, machineIdentity } from "./host-identity";
import { declaredParentLimits, limitsAdmission, parentDiskBudget, removedLimits } from "./limits";
import { observedInputs } from "./limits-observed";
import type { CheckResult, DiffResult, LifecycleImpl, Props } from "./provider-types";
import { containsUnknown } from "./unknown";
import { pauseHook } from "./test-hooks";
import { claim, ownerConflict, ownerOf, recordedOwner } from "./ownership";
import { kernelCapabilities } from "../kernel/capabilities";
import type { Limits } from "../../schema/limits";
import {
  etcFiles, hasNetworking, netAdmission, netFile, netPlan, networkRecords, observeNet, type NetPlan,
} from "./container-network";
import {
  containerSite, createSteps, filesAndSupervisorSteps, markStoppedSteps, networkSteps, parseReport, removeContainerFromHost, runOperation, startContainerSteps, stopContainerSteps,
  templateMissing, type ContainerSite, type NetClaims,
} from "../kernel/container/operations";
import { chooseRanges, maxRangeIndex, rangeBase } from "../kernel/container/uid-ranges";
import { chooseAddress, lostRace, releaseAddresses, type AddressClaim } from "../kernel/network/allocate";
import { releasePorts } from "../kernel/network/port-claims";
import { StepError, type Pause, type PauseHook, type Step } from "../kernel/transaction";
import { attachmentName } from "../../schema/container-network";
import { unreachableAtCheck } from "./unreachable";
import { applyDisk, diskAdmission, diskDrift, diskReplaces, diskRoomAdmission } from "./container-disk";
import { diskBudgetAdmission } from "./disk-budget";

const inputKeys = [
  "host", "name", "parent", "limits", "rootfs", "command", "env", "workingDir", "user", "hostname",
  "mounts", "disk", "sysctls", "procViews", "state", "restartPolicy", "reportUsage", "security", "logMaxSize", "stopGraceSeconds", "networks", "ports", "dns", "hosts", "adopt", "owner",
  "migration", "onSourceLost", "diskFrom", "ingress",
] as const;
/** Inputs a running container cannot take: changing them replaces it (delete first: names are unique). */
export const replaceKeys = ["name", "parent", "rootfs", "command", "env", "workingDir", "user", "hostname", "mounts", "security"] as const;

function pickInputs(props: Props): Props {
  return Object.fromEntries(inputKeys.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
}

/**
 * The declaration without `owner` (kept in state, never diffed: see ownership.ts) and `diskFrom`
 * (a `disk` that check took from the Host's defaults: withHostDefaults).
 */
function declared(props: Props): Props {
  const { owner: _owner, diskFrom: _diskFrom, ...rest } = pickInputs(props);
  return rest;
}

/**
 * The Host's default disk limit (its `defaults.disk`, passed along as `hostDefaults`) for a
 * container that declares no `disk`: taken at its create (olds without a name) and kept following
 * the default while it came from there (`diskFrom: "host"` in state). A container made without a
 * limit does not get one from a later default: adding a disk is a replacement, and its writable
 * layer would be lost without the user having asked. A removed default leaves the last one.
 */
export function withHostDefaults(olds: Props, inputs: Props, hostDefaults: unknown): Props {
  if (inputs.disk !== undefined) return inputs;
  const d = hostDefaults && typeof hostDefaults === "object" && !containsUnknown(hostDefaults) ? disk.safeParse((hostDefaults as { disk?: unknown }).disk) : undefined;
  const fromHost = olds.diskFrom === "host";
  const isNew = typeof olds.name !== "string";
  if (d?.success && (isNew || fromHost)) return { ...inputs, disk: (hostDefaults as { disk: unknown }).disk, diskFrom: "host" };
  if (fromHost && olds.disk !== undefined) return { ...inputs, disk: olds.disk, diskFrom: "host" };
  return inputs;
}

// A preview parsed each container's declaration five times (check: news, olds and the checked
// inputs; diff: olds and news, each a fresh object from the engine) where two are distinct, the
// old and the new, and one when nothing changed: 0.27 s of a provider's 3 s at 500 containers.
// Parsed once per declaration (its JSON text) and per object; frozen, since calls share it.
type Parsed = { ok: true; value: ContainerArgs } | { ok: false; failures: InputFailure[] };
const parsed = new WeakMap<Props, Parsed>();
const byText = new Map<string, Parsed>();
const byTextMax = 4096;

function parseDeclared(props: Props): Parsed {
  let r = parsed.get(props);
  if (r) return r;
  const d = declared(props);
  const text = JSON.stringify(d);
  r = byText.get(text);
  if (!r) {
    r = deepFreeze(parseInput(containerArgs, d));
    // a bounded memo: an up of N containers holds about 2N declarations at once
    if (byText.size >= byTextMax) byText.clear();
    byText.set(text, r);
  }
  parsed.set(props, r);
  return r;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** The declaration in props (inputs or outputs), or undefined when it is not a valid one. */
export function declaration(props: Props): ContainerArgs | undefined {
  const r = parseDeclared(props);
  return r.ok ? r.value : undefined;
}

function parse(props: Props): ContainerArgs {
  const r = parseDeclared(props);
  if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
  return r.value;
}

interface Ctx {
  h: HostContext;
  prefix: string;
  layout: HostLayout;
  runtime: OciRuntime;
  /** cgroup path below the prefix */
  path: string;
  bundle: string;
  log: string;
  snapshots: SnapshotCache;
}

async function context(a: ContainerArgs): Promise<Ctx> {
  const h = await hostContext(a.host);
  const chosen = chooseRuntime(h.facts, a.host.runtime ?? "auto");
  if ("error" in chosen) throw new Error(`${h.t.target}: ${chosen.error}`);
  const layout = hostLayout(a.host.prefix);
  const runtime = new OciRuntime(h.t, chosen.runtime.name, layout.runtimeRoot);
  const snapshots = hostSnapshots(h, a.host);
  const bundle = layout.bundle(a.name);
  return { h, prefix: a.host.prefix, layout, runtime, path: a.parent ? `${a.parent}/${a.name}` : a.name, bundle, log: `${bundle}/log`, snapshots };
}

/** uidBase: the container's user-namespace range (uidBaseOf, ensureRange), if it has one. */
function specOf(a: ContainerArgs, c: Ctx, uidBase: number | undefined): Record<string, unknown> {
  return ociSpec(a, {
    cgroupsPath: `/${a.host.prefix}/${c.path}`,
    cgroupVersion: c.h.cgroups.version,
    nofileHard: c.h.facts.nofileHard,
    etc: { resolvConf: `${c.bundle}/resolv.conf`, hosts: `${c.bundle}/hosts`, hostname: `${c.bundle}/hostname` },
    userNamespaceBase: uidBase,
    recursiveReadOnly: recursiveReadOnly(c.h.facts, c.runtime.name),
    lxcfs: a.procViews ? lxcfsDir(c.layout) : undefined,
  });
}

/**
 * Hash of a runtime config, to tell an init started from another declaration. The RLIMIT_NOFILE
 * ceiling is left out: it is the starting process's own hard limit (root here cannot raise it),
 * which differs between shells, and must not make an `up` from another shell restart containers.
 */
const hash = (spec: unknown) => {
  const p = (spec as { process?: { rlimits?: unknown } }).process;
  const v = p?.rlimits ? { ...(spec as object), process: { ...p, rlimits: undefined } } : spec;
  return createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);
};
/** The hash kslice.json recorded before the rlimit was left out (bundles made by older kslice). */
const legacyHash = (spec: unknown) => createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 16);

/**
 * Does a recorded (or running) config's hash name this spec? A container made before /etc/hostname
 * was mounted runs the same declaration: it gets the mount at its next start, not a restart now.
 */
function sameSpec(recorded: string | undefined, spec: Record<string, unknown>, legacy = false): boolean {
  const withViews = [spec, specBeforeProcViews(spec)].filter((f) => f !== undefined);
  const forms = withViews.flatMap((f) => [f, specBeforeHostname(f)].filter((g) => g !== undefined));
  return forms.some((f) => recorded === hash(f) || (legacy && recorded === legacyHash(f)));
}

/** Writes bundle files in one command, their contents over stdin (config.json holds secrets). */
const putFiles = (c: Ctx, files: BundleFile[]) => writeBundleFiles(c.h.t, files);

/** Writes one bundle file, renamed into place (the supervisor may be running it). */
const putFile = (c: Ctx, path: string, content: string) => putFiles(c, [{ path, content }]);

async function planCtx(c: Ctx, a: ContainerArgs) {
  return { periodUs: 100_000, devices: await resolveBlockDevices(c.h.t, (a.limits.io?.devices ?? []).map((d) => d.device)) };
}

const site = (c: Ctx, name: string): ContainerSite => containerSite(c.h.cgroups, c.prefix, c.layout, c.runtime.name, name, c.path);

/**
 * Addresses and ranges chosen by operations under way in this process, not yet claimed on the
 * host: parallel creates of one provider choose apart instead of racing for one (creates of
 * other processes that race still lose cleanly, and are retried).
 */
const picked = new Map<string, Set<string>>();
function pick(key: string, value: string): () => void {
  const set = picked.get(key) ?? new Set<string>();
  picked.set(key, set);
  set.add(value);
  return () => set.delete(value);
}

/** What a container's networking needs, decided from the host's snapshot: claims to make and files to write. */
interface NetDecision {
  claims: NetClaims | undefined;
  files: BundleFile[];
  addresses: Map<string, string>;
  release: () => void;
}

/**
 * Chooses the container's addresses (the ones it holds, the declared ones, or the lowest free) and
 * writes what its networking needs: net.sh, resolv.conf, hosts. The host's script claims them
 * exclusively (allocate.ts); resolv.conf and hosts are rewritten in place, so a running container
 * sees a change at once (they are bind mounts).
 */
async function decideNet(c: Ctx, a: ContainerArgs, snap: ClaimsSnapshot): Promise<NetDecision> {
  const releases: (() => void)[] = [];
  let plan: NetPlan = { atts: [], ports: [] };
  let claims: NetClaims | undefined;
  const addresses = new Map<string, string>();
  if (hasNetworking(a)) {
    let records = new Map(a.networks.map((n) => [attachmentName(n), snap.networks.get(attachmentName(n))]));
    // a Network made since the snapshot was read (it is shared for a moment): its record is read afresh
    if ([...records.values()].some((r) => !r)) records = await networkRecords(c.h.t, c.layout, a);
    const unknown = [...records].filter(([, r]) => !r).map(([n]) => n);
    if (unknown.length) throw new Error(`networks: network ${unknown.join(", ")} is not on the host (create its Network first)`);
    const held = snap.addresses.get(a.name);
    const addressClaims: AddressClaim[] = [];
    for (const n of a.networks) {
      const rec = records.get(attachmentName(n))!;
      const key = `${c.h.t.target}/${c.prefix}/network/${rec.name}`;
      const taken = new Set(picked.get(key));
      for (const [owner, m] of snap.addresses) if (owner !== a.name && m.get(rec.name)) taken.add(m.get(rec.name)!);
      const address = n.address ?? held?.get(rec.name) ?? chooseAddress({ network: rec.name, subnet: rec.subnet, gateway: rec.gateway, dynamicRange: rec.dynamicRange }, taken);
      if (!address) {
        releases.forEach((r) => r());
        throw new Error(`networks: network ${rec.name} (${rec.dynamicRange ?? rec.subnet}) has no free address left`);
      }
      releases.push(pick(key, address));
      addresses.set(rec.name, address);
      addressClaims.push({ network: rec.name, address, declared: n.address !== undefined, dynamicRange: rec.dynamicRange });
    }
    claims = { ports: a.ports, addresses: addressClaims };
    plan = netPlan(a.host.prefix, a, records, addresses, snap);
  }
  // the host's resolv.conf only when the declaration names no nameservers (once per host read)
  const hostResolv = a.dns?.nameservers ? "" : await hostResolvConf(c.h.t, snap).catch((e: unknown) => {
    releases.forEach((r) => r());
    throw e;
  });
  const etc = etcFiles(a, plan, hostResolv);
  const files: BundleFile[] = [
    netFile(a.host.prefix, c.layout, a, plan),
    // bind-mounted into the container: rewritten in place, so that it sees the change
    { path: `${c.bundle}/resolv.conf`, content: etc.resolv, mode: "644", inPlace: true },
    { path: `${c.bundle}/hosts`, content: etc.hosts, mode: "644", inPlace: true },
    { path: `${c.bundle}/hostname`, content: etc.hostname, mode: "644", inPlace: true },
  ];
  return { claims, files, addresses, release: () => releases.forEach((r) => r()) };
}

/** The user-namespace range a new container takes: the one it holds, else the lowest free one (claimed by the create's script). */
function decideRange(c: Ctx, a: ContainerArgs, snap: ClaimsSnapshot): { base: number; index: number; release: () => void } | undefined {
  if (!a.security.userNamespace) return undefined;
  const held = snap.ranges.get(a.name);
  if (held !== undefined) return { base: rangeBase(held), index: held, release: () => undefined };
  const key = `${c.h.t.target}/uid-ranges`;
  const [index] = chooseRanges([...snap.takenRanges, ...[...(picked.get(key) ?? [])].map(Number)], undefined, 1);
  if (index === undefined) throw new Error(`security.userNamespace: host ${c.h.t.target} has no user-namespace range left (${maxRangeIndex + 1} claimed)`);
  return { base: rangeBase(index), index, release: pick(key, String(index)) };
}

/** The files a start runs from, written on every start, so the declaration (not an edited bundle) runs. */
async function startFiles(c: Ctx, a: ContainerArgs, uidBase: number | undefined, netFiles: BundleFile[]): Promise<BundleFile[]> {
  return [
    ...netFiles,
    { path: `${c.bundle}/config.json`, content: JSON.stringify(specOf(a, c, uidBase), null, 2) },
    await startFile(c, a),
    { path: `${c.bundle}/restart`, content: a.restartPolicy },
    { path: `${c.bundle}/logmax`, content: String(a.logMaxSize) },
  ];
}

/**
 * start.sh with the declared limits (so a restart by the supervisor writes them too) and the
 * rootfs's overlay (so a start after a reboot mounts it again).
 */
async function startFile(c: Ctx, a: ContainerArgs): Promise<BundleFile> {
  const writes = c.h.cgroups.plan(a.limits, await planCtx(c, a)).map((s) => ({
    key: `limits.${s.key}`,
    path: `${c.h.cgroups.dir(s.controller, c.path)}/${s.file}`,
    value: s.value,
  }));
  const net = hasNetworking(a) ? `${c.bundle}/net.sh` : undefined;
  return startShFile(c.runtime.name, c.layout, a.name, writes, nofileLimit(c.h.facts.nofileHard), net, lowerOf(c.layout, a.rootfs), a.procViews ? { prefix: c.prefix } : undefined);
}

/** Runs one operation's script on the container's host; its failure reads `<host>: container <name>: <step>: <stderr>`. */
async function operate(c: Ctx, name: string, steps: (Step | Pause)[], hook?: PauseHook, made?: Made): Promise<string> {
  let ok = false;
  try {
    const out = await runOperation(c.h.t, steps, hook);
    ok = true;
    return out;
  } catch (e) {
    throw new Error(`${c.h.t.target}: container ${name}: ${(e as Error).message}`, { cause: e });
  } finally {
    // a create that succeeded says what it claimed; anything else is read again
    if (ok && made) c.snapshots.made(made);
    else c.snapshots.invalidate();
    c.h.cgroups.invalidate();
  }
}

/**
 * Starts the container from its bundle with the same script the host's supervisor uses to restart
 * it, its files written from the declaration first (claims it holds are kept; new ones made).
 * `filesOnly`: the files alone. One command.
 */
async function start(c: Ctx, a: ContainerArgs, filesOnly = false, rebuild?: { owner: string | undefined }): Promise<void> {
  const snap = await c.snapshots.claims();
  const uidBase = a.security.userNamespace ? await ensureRange(c.h.t, c.layout, a, snap) : undefined;
  const net = await decideNet(c, a, snap);
  try {
    const files = await startFiles(c, a, uidBase, net.files);
    // a damaged bundle's kslice.json too, as its create wrote it (see repairRecords)
    if (rebuild) files.push({ path: `${c.bundle}/kslice.json`, content: recordOf(c, a, rebuild.owner, uidBase) });
    await operate(c, a.name, startContainerSteps(site(c, a.name), { files, uidBase, net: net.claims }, filesOnly));
  } finally {
    net.release();
  }
}

/** kslice.json as a create writes it: the spec's hash, the lower, the owner, the uid base, the rootfs (what a backup's restore builds its lower from). */
function recordOf(c: Ctx, a: ContainerArgs, owner: string | undefined, uidBase: number | undefined): string {
  return JSON.stringify({ specHash: hash(specOf(a, c, uidBase)), lower: lowerOf(c.layout, a.rootfs), owner, ...(uidBase === undefined ? {} : { uidBase }), rootfs: baseOf(a.rootfs) });
}

/**
 * A bundle whose records a power loss left empty or unreadable (snapshot.ts `damaged`; boot.sh
 * did not start it and said so) is rebuilt from the declaration in one command: kslice.json,
 * config.json, start.sh, net.sh and the rest of a start's files, and the claims it holds. Its
 * writable layer (upper) is kept: start.sh mounts it again.
 */
async function repairRecords(c: Ctx, a: ContainerArgs, owner: string | undefined): Promise<boolean> {
  if (!(await c.snapshots.claims()).damaged.has(a.name)) return false;
  await start(c, a, true, { owner });
  return true;
}

/** Claims and network files from the declaration; with `joinPid`, joins the running init to them live. */
async function prepareNet(c: Ctx, a: ContainerArgs, joinPid?: number): Promise<void> {
  const net = await decideNet(c, a, await c.snapshots.claims());
  try {
    await operate(c, a.name, networkSteps(site(c, a.name), net.claims, net.files, joinPid));
  } finally {
    net.release();
  }
}

/** Tells the supervisor that the coming exit is asked for (see operations.ts markStopped). */
const markStopped = (c: Ctx) => operate(c, c.bundle.split("/").pop()!, markStoppedSteps(site(c, c.bundle.split("/").pop()!)));

/**
 * Removes everything a container has on the host, whatever state it is in (complete, or left by a
 * killed create): runtime state and processes, cgroup (`path` below the prefix), veths and rules,
 * address and port claims, the rootfs mount and the bundle. Idempotent; one command.
 */
export async function removeContainer(h: HostContext, runtime: OciRuntime, prefix: string, name: string, path: string, graceMs = 0): Promise<void> {
  const s = containerSite(h.cgroups, prefix, hostLayout(prefix), runtime.name, name, path);
  try {
    await removeContainerFromHost(h.t, s, graceMs);
  } catch (e) {
    throw new Error(`${h.t.target}: container ${name}: ${(e as Error).message}`, { cause: e });
  } finally {
    h.cgroups.invalidate();
  }
}

/**
 * A bundle whose create never finished (the provider killed: the "creating" marker is still
 * there, or kslice.json was never written) gives the cgroup path it was made for; a complete
 * bundle, or none, gives undefined.
 */
async function incompleteBundle(c: Ctx, name: string): Promise<string | undefined> {
  const left = (await readIncompleteBundles(c.h.t, c.layout, name)).get(name);
  return left === undefined ? undefined : left || c.path;
}

/**
 * Stops the container: its init (thawed first, SIGTERM, SIGKILL after the grace), runtime state and
 * cgroup go, and its port rules (a stopped container's ports forward nowhere, whatever the new
 * declaration says: an update may stop it and drop its ports at once); claims and bundle stay.
 */
async function stop(c: Ctx, a: ContainerArgs): Promise<void> {
  await operate(c, a.name, stopContainerSteps(site(c, a.name), a.stopGraceSeconds * 1000));
}

/**
 * A migration's stop on the source: the stop alone, without update's reads before and after it
 * (stopInit takes any state: running, paused, exited, missing), so that the downtime holds only
 * the stop itself. The migration keeps the source's outputs it had.
 */
export async function stopForMove(props: Props): Promise<void> {
  const a = parse(props);
  const c = await context(a);
  try {
    await stop(c, a);
  } finally {
    c.snapshots.invalidate();
  }
}

/**
 * A migration's start on the target, of the container it created there unstarted from the same
 * declaration: the start alone, without update's reads before it (its records, disk and state are
 * the create's), then the outputs as read after it.
 */
export async function startForMove(news: Props): Promise<Props> {
  const a = parse(news);
  const c = await context(a);
  try {
    await start(c, a);
  } finally {
    c.snapshots.invalidate();
  }
  return outputs(a, news, c, await observe(c, a));
}

interface Observed {
  status: "running" | "stopped" | "created" | "paused" | "missing";
  pid: number;
  startedAt: string;
  /** Hash of the runtime config the container runs from, to tell an init replaced behind kslice's back. */
  specHash: string | undefined;
  usage: Usage | undefined;
  /** Addresses held on the host, by network. */
  addresses: Map<string, string>;
  /** Host uid of the container's root, if it is user-namespaced. */
  uidBase: number | undefined;
  /** Attachments and ports of a running container that the kernel does not show as declared. */
  net: NetDrift | undefined;
  /** Security facets of the running init that differ from the declaration (capabilities, seccomp, …). */
  security: string[];
  /** Declared sysctls the init's namespaces hold otherwise: key → the kernel's value ("" unreadable). */
  sysctls: Map<string, string>;
  /** Its /proc views are bound to an lxcfs that died (container-proc.ts): a restart binds them anew. */
  procViewsStale?: boolean;
}

/**
 * `recordedPid`: the pid the state holds, given by diff and read. The config an init runs from is
 * then read only when the live pid is another (the only case its hash is compared), and the rest
 * comes from reads of every container, shared by the burst of diffs or reads.
 */
async function observe(c: Ctx, a: ContainerArgs, snap?: ContainerSnapshot, recordedPid?: unknown): Promise<Observed> {
  const s = snap ?? (await c.snapshots.get());
  const st = s.states.get(a.name);
  const running = st?.status === "running";
  // a paused (frozen) container keeps its init and its pid: observed as it is, thawed by update
  const live = running || st?.status === "paused";
  // diff and read (which give the recorded pid) come in bursts: every container is read at once
  const burst = recordedPid !== undefined;
  const net = hasNetworking(a) ? await observeNet(c.h.t, a.host.prefix, a, live ? st!.pid : undefined, s, burst) : undefined;
  const addresses = net?.addresses ?? new Map<string, string>();
  const uidBase = uidBaseOf(a, s);
  if (!st) return { status: s.bundles.has(a.name) ? "stopped" : "missing", pid: 0, startedAt: "", specHash: undefined, usage: undefined, addresses, net: undefined, uidBase, security: [], sysctls: new Map() };
  const [config, status, uidMap, uptime] = !live
    ? [undefined, undefined, undefined, undefined]
    : recordedPid === undefined || recordedPid !== st.pid
      ? await readSpecAndInit(c.h.t, c.layout, a.name, st.pid)
      : [undefined, ...(await initFiles(c.h.t, s, a.name, st.pid, burst))];
  // what the kernel shows of the init, not what config.json says
  const sec = parseSecurity(status, uidMap);
  return {
    status: st.status as Observed["status"],
    pid: live ? st.pid : 0,
    startedAt: st.created,
    specHash: config === undefined ? undefined : hash(JSON.parse(config)),
    usage: live && a.reportUsage ? await c.h.cgroups.usage(c.path) : undefined,
    addresses,
    net: net?.drift,
    uidBase,
    security: sec ? securityDrift(expectedSecurity(specOf(a, c, uidBase)), sec) : [],
    sysctls: live ? await observeSysctls(c, a, st.pid) : new Map(),
    procViewsStale: procViewsStale(a, status, uptime),
  };
}

/** Declared sysctls as the init's namespaces hold them; an init gone meanwhile holds none of them. */
async function observeSysctls(c: Ctx, a: ContainerArgs, pid: number): Promise<Map<string, string>> {
  return sysctlDrift(c.h.t, pid, a.sysctls).catch(() => new Map(Object.keys(a.sysctls).map((k) => [k, ""])));
}

function outputs(a: ContainerArgs, inputs: Props, c: Ctx, o: Observed): Props {
  return {
    ...pickInputs(inputs),
    runtimeId: a.name,
    machineId: machineIdentity(c.h.facts, a.host.connection),
    runtime: c.runtime.name,
    status: o.status,
    pid: o.pid,
    startedAt: o.startedAt,
    cgroupPath: c.path,
    bundlePath: c.bundle,
    logPath: c.log,
    usage: o.usage ?? null,
    /** network name → address */
    addresses: Object.fromEntries(a.networks.map((n) => [attachmentName(n), o.addresses.get(attachmentName(n)) ?? null])),
    address: o.addresses.get(a.networks[0] ? attachmentName(a.networks[0]) : "") ?? null,
    /** What of the running init's security the kernel shows otherwise than declared; up restarts it from the declaration. */
    securityDrift: o.security,
  };
}

/**
 * Which declared inputs the kernel does not hold (the running state, the init, networks, ports,
 * security, limits): none when it holds them all. The keys are shown in the engine's diff
 * (diff-detail.ts), so a plain preview says why an update happens.
 */
async function drifted(c: Ctx, a: ContainerArgs, recordedPid: unknown): Promise<string[]> {
  const o = await observe(c, a, undefined, recordedPid);
  // records a power loss emptied: up rewrites them, running or stopped
  if ((await c.snapshots.get()).damaged.has(a.name)) return ["status"];
  if (a.state === "stopped") return o.status === "running" || o.status === "created" || o.status === "missing" ? ["state"] : [];
  if (o.status !== "running") return ["status"];
  // The init was replaced behind kslice's back: another pid, started from another config.
  if (o.pid !== recordedPid && !sameSpec(o.specHash, specOf(a, c, o.uidBase))) return ["state"];
  const keys: string[] = [];
  if (o.net?.attachments.length) keys.push("networks");
  if (o.net?.ports) keys.push("ports");
  if (o.security.length) keys.push("security");
  if (o.sysctls.size) keys.push("sysctls");
  if (o.procViewsStale) keys.push("procViews");
  const files = await c.h.cgroups.read(c.path);
  if (c.h.cgroups.drift(c.h.cgroups.plan(a.limits, await planCtx(c, a)), files).length > 0) keys.push("limits");
  if (await diskDrift(c.h.t, c.bundle, a)) keys.push("disk");
  return keys;
}

/** The existence test of a rootfs path (also the one a backup's layer lies on). */
function pathRootfsTest(r: ContainerArgs["rootfs"]): (PathTest & { property: string; missing: string })[] {
  const base = baseOf(r);
  if (!("path" in base)) return [];
  return [{ property: "backup" in r ? "rootfs.backup.rootfs.path" : "rootfs.path", path: base.path, kind: "exists" as const, missing: "no such path" }];
}

async function admission(a: ContainerArgs, c: Ctx, previousName?: string, owner?: string, parentLimits?: Limits): Promise<InputFailure[]> {
  const failures = await limitsAdmission(a, c.h, parentLimits);
  failures.push(...(await ownerAdmission(a, c, owner)));
  if (a.security.userNamespace && !c.h.facts.userNamespaces) {
    failures.push({ property: "security.userNamespace", reason: `host ${c.h.t.target} has user namespaces disabled (user.max_user_namespaces is 0)` });
  }
  const checks: (PathTest & { property: string; missing: string; got?: string })[] = [
    ...(pathRootfsTest(a.rootfs)),
    ...("ociLayout" in a.rootfs
      ? [{ property: "rootfs.ociLayout.path", path: a.rootfs.ociLayout.path, kind: "ociLayout" as const, missing: "no OCI image layout (its oci-layout file) at that path" }]
      : []),
    ...a.mounts.flatMap((m, i) => (m.type === "bind" ? [{ property: `mounts.${i}.source`, path: m.source, kind: "exists" as const, missing: "no such path" }] : [])),
    ...procViewsAdmission(a),
    // a namespaced sysctl is in the host's /proc/sys too (the kernel has it, whatever the namespace)
    ...Object.keys(a.sysctls).map((k) => ({ property: `sysctls.${k}`, path: sysctlPath(k), kind: "exists" as const, missing: "no such sysctl in the kernel" })),
  ];
  const tests = sharedTests(c.h.t, await c.snapshots.claims());
  if (checks.length) {
    (await readPathTests(tests, checks)).forEach((ok, i) => {
      if (!ok) failures.push({ property: checks[i]!.property, reason: `got ${checks[i]!.got ?? JSON.stringify(checks[i]!.path)}; ${checks[i]!.missing} on host ${c.h.t.target}` });
    });
  }
  const caps = [
    ...a.security.capAdd.map((cap, i) => ({ property: `security.capAdd.${i}`, cap })),
    ...a.security.capDrop.map((cap, i) => ({ property: `security.capDrop.${i}`, cap })),
  ];
  if (caps.length) {
    const known = await kernelCapabilities(c.h.t);
    for (const x of caps.filter((x) => !known.includes(x.cap))) {
      failures.push({ property: x.property, reason: `got ${JSON.stringify(x.cap)}; not a capability the kernel of host ${c.h.t.target} knows (${known[0]} … ${known[known.length - 1]})` });
    }
  }
  failures.push(...(await netAdmission(c.h.t, c.layout, a, await c.snapshots.claims(), previousName, owner)));
  failures.push(...(await readOnlyBindFailures(tests, a, recursiveReadOnly(c.h.facts, c.runtime.name))));
  const disk = await diskAdmission(c.h.t, c.bundle, a, (await c.snapshots.claims()).bundles.has(a.name));
  failures.push(...disk);
  if (!disk.length) failures.push(...(await diskRoomAdmission(c.h.t, c.layout, a, owner ?? `container ${a.name}`)));
  return failures;
}

/**
 * Ownership at check: a name declared twice in this program, or a container on the host that
 * another owner made (refused unless adopt: true), is refused before anything is created.
 */
async function ownerAdmission(a: ContainerArgs, c: Ctx, owner: string | undefined): Promise<InputFailure[]> {
  const failures: InputFailure[] = [];
  if (owner) {
    for (const other of claim(`container ${connectionKey(a.host.connection)}/${a.host.prefix}`, owner, a.name)) {
      failures.push({ property: "name", reason: `got ${JSON.stringify(a.name)}, also the name of ${other} in this program; one host and prefix hold one container of a name` });
    }
  }
  // from the host's snapshot: one read serves every container's check
  const meta = (await c.snapshots.claims()).records.get(a.name);
  const conflict = ownerConflict(`container ${a.name} under prefix ${a.host.prefix} on host ${c.h.t.target}`, recordedOwner(meta), owner, a.adopt);
  if (conflict) failures.push({ property: "name", reason: conflict });
  return failures;
}

/** One try of a create: decisions from the snapshot, then one script. */
async function createOnce(c: Ctx, a: ContainerArgs, inputs: Props, snap: ClaimsSnapshot): Promise<Observed> {
  const releases: (() => void)[] = [];
  try {
    const uid = decideRange(c, a, snap);
    if (uid) releases.push(uid.release);
    const spec = specOf(a, c, uid?.base);
    const lower = lowerOf(c.layout, a.rootfs);
    const running = a.state === "running";
    const net = running || hasNetworking(a) ? await decideNet(c, a, snap).catch((e: Error) => {
      throw new Error(`${c.h.t.target}: container ${a.name}: ${e.message}`, { cause: e });
    }) : undefined;
    if (net) releases.push(net.release);
    const record = JSON.stringify({ specHash: hash(spec), lower, owner: ownerOf(inputs), ...(uid === undefined ? {} : { uidBase: uid.base }), rootfs: baseOf(a.rootfs) });
    const out = await operate(c, a.name, createSteps(site(c, a.name), {
      cgroupPath: c.path,
      lower,
      template: !("path" in baseOf(a.rootfs)),
      restore: "backup" in a.rootfs ? a.rootfs.backup.file : undefined,
      uid: uid && { base: uid.base, index: uid.index },
      record,
      netFiles: !running && net ? net.files : [],
      net: net?.claims,
      start: running ? { files: await startFiles(c, a, uid?.base, net!.files), uidBase: uid?.base } : undefined,
      disk: a.disk && { bytes: a.disk.max, inodes: a.disk.inodes },
    }), pauseHook(), { name: a.name, record, started: running, addresses: net?.claims ? net.addresses : new Map(), rangeIndex: uid?.index });
    return await observedFromReport(c, a, spec, uid?.base, net?.addresses ?? new Map(), out);
  } finally {
    releases.forEach((r) => r());
  }
}

/** What a create's (or start's) script reported of the kernel, as observe would find it. */
async function observedFromReport(c: Ctx, a: ContainerArgs, spec: unknown, uidBase: number | undefined, addresses: Map<string, string>, out: string): Promise<Observed> {
  const r = parseReport(out);
  const st = r.state;
  const live = st?.status === "running" || st?.status === "paused";
  const sec = live ? parseSecurity(r.status, r.uidMap) : undefined;
  return {
    status: (st?.status ?? "stopped") as Observed["status"],
    pid: live ? st!.pid : 0,
    startedAt: st?.created ?? "",
    specHash: live ? hash(spec) : undefined,
    usage: live && a.reportUsage ? await c.h.cgroups.usage(c.path) : undefined,
    addresses,
    net: undefined,
    uidBase,
    security: sec ? securityDrift(expectedSecurity(spec as Record<string, unknown>), sec) : [],
    // applied by the runtime from the spec at create
    sysctls: new Map(),
  };
}

export const containerLifecycle: LifecycleImpl = {
  async check(olds, news): Promise<CheckResult> {
    let inputs = withHostDefaults(olds, pickInputs(news), news.hostDefaults);
    if (containsUnknown(inputs)) return { inputs };
    const r = parseDeclared(inputs);
    if (!r.ok) return { failures: r.failures };
    try {
      const c = await context(r.value);
      // a backup is read (and its sums checked) first: what its layer lies on is what the rest admits
      const backup = await backupAdmission(c.h.t, r.value.rootfs, olds.rootfs);
      if (backup.failures.length) return { failures: backup.failures };
      if (backup.rootfs) inputs = { ...inputs, rootfs: backup.rootfs };
      const declared = backup.rootfs ? { ...r.value, rootfs: backup.rootfs } : r.value;
      const failures = await admission(declared, c, typeof olds.name === "string" ? olds.name : undefined, ownerOf(inputs), declaredParentLimits(news.parentLimits));
      const label = `container ${r.value.name}`;
      const budget = await parentDiskBudget(r.value, c.h, news.parentDisk);
      failures.push(...diskBudgetAdmission(r.value.host, r.value.parent, budget, { key: ownerOf(inputs) ?? label, label, bytes: r.value.disk?.max }));
      if (failures.length) return { failures };
    } catch (e) {
      const failures = unreachableAtCheck(e);
      if (failures.length) return { failures };
    }
    return { inputs: { ...inputs, host: r.value.host } };
  },

  async diff(_id, olds, news): Promise<DiffResult> {
    if (containsUnknown(pickInputs(news))) return { changes: true };
    const o = parse(olds);
    const a = parse(news);
    const replaces: string[] = replaceKeys.filter((k) => JSON.stringify(o[k]) !== JSON.stringify(a[k]));
    if (await hostMoved(olds, o.host, a.host)) replaces.push("host");
    replaces.push(...diskReplaces(o, a));
    if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
    if (JSON.stringify(o) !== JSON.stringify(a)) return { changes: true };
    const keys = await drifted(await context(a), a, olds.pid);
    return withDetail({ changes: keys.length > 0 }, keys);
  },

  async create(inputs) {
    const a = parse(inputs);
    const c = await context(a);
    // decided from the claims alone (no runtime list: a create of hundreds would read it for each)
    let snap = await c.snapshots.claims();
    if (snap.bundles.has(a.name) || snap.runtimeIds.has(a.name)) {
      // a create killed half-way: what it made goes, and this create makes it again from the start
      const left = await incompleteBundle(c, a.name);
      if (left === undefined) return adopt(c, a, inputs, specOf(a, c, uidBaseOf(a, snap)), await c.snapshots.get());
      await removeContainer(c.h, c.runtime, c.prefix, a.name, left);
      c.snapshots.invalidate();
      snap = await c.snapshots.claims();
    }
    // One script makes the whole container (operations.ts createSteps), undoing its own steps when
    // one fails. The prefix's shared setup (its dirs, root cgroups, templates) stays: a sibling
    // created in parallel may already use it. Host delete removes it, and a kept template is a
    // cache the next create reuses. A claim lost to a create of another process (the snapshot was
    // stale) fails that script cleanly: read again, choose again.
    for (let attempt = 1; ; attempt++) {
      try {
        const o = await createOnce(c, a, inputs, snap);
        return { id: `${connectionKey(a.host.connection)}/${a.host.prefix}/${a.name}`, outs: outputs(a, inputs, c, o) };
      } catch (e) {
        const step = (e as Error).cause;
        if (step instanceof StepError && step.exitCode === templateMissing && attempt <= 2) {
          // rare: the template is built apart (minutes, under its own lock), then the create runs again
          await ensureLower(c.h.t, c.layout, a.rootfs).catch((err: Error) => {
            throw new Error(`${c.h.t.target}: container ${a.name}: ${err.message}`, { cause: err });
          });
        } else if (!(step instanceof StepError && step.exitCode === lostRace && attempt <= 5)) throw e;
        snap = await c.snapshots.claims();
      }
    }
  },

  async read(id, props) {
    const a = parse(props);
    const c = await context(a);
    // the config's hash is no output: read needs none (the state's pid spares it)
    const o = await observe(c, a, undefined, props.pid);
    if (o.status === "missing") return {};
    // paused: its init lives (status "paused" says it is frozen; diff finds it, update thaws it)
    const actual = o.status === "running" || o.status === "paused" ? "running" : "stopped";
    // Shown in the user's terms: left out when it was left out and the kernel agrees with the default.
    const state = props.state === undefined && actual === "running" ? undefined : actual;
    let limits = props.limits;
    if (o.status === "running" || o.status === "paused") {
      const files = await c.h.cgroups.read(c.path);
      const pc = await planCtx(c, a);
      const drift = c.h.cgroups.drift(c.h.cgroups.plan(a.limits, pc), files);
      if (drift.length) {
        limits = observedInputs(props.limits as Record<string, Record<string, unknown>>, drift.map((d) => d.setting), c.h.cgroups.observe(files, pc));
      }
    }
    // A network the container is not on as declared (veth gone, address removed) reads as left;
    // published ports whose rules are gone read as none.
    const net: Props = {};
    if (o.net?.attachments.length) {
      const kept = a.networks.filter((_, i) => !o.net!.attachments.includes(i)).map(attachmentName);
      net.networks = (props.networks as unknown[]).filter((_, i) => !o.net!.attachments.includes(i));
      // ports that went with their network (or with the last one) cannot be shown either
      net.ports = (props.ports as { network?: string }[] | undefined ?? []).filter((p) => kept.length && (p.network ? kept.includes(p.network) : kept[0] === attachmentName(a.networks[0]!)));
    }
    if (o.net?.ports) net.ports = [];
    // a sysctl changed by hand reads as the kernel's value (one it cannot read, as not set)
    const sysctls = o.sysctls.size
      ? Object.fromEntries(Object.entries(a.sysctls).flatMap(([k, v]) => (o.sysctls.has(k) ? (o.sysctls.get(k) ? [[k, o.sysctls.get(k)]] : []) : [[k, v]])))
      : undefined;
    return { id, props: { ...outputs(a, props, c, o), ...(state ? { state } : {}), ...(limits !== undefined ? { limits } : {}), ...(sysctls ? { sysctls } : {}), ...net } };
  },

  async update(_id, olds, news) {
    const o = parse(olds);
    const a = parse(news);
    const c = await context(a);
    if (await repairRecords(c, a, ownerOf(news))) c.snapshots.invalidate();
    // a grow is live; a shrink (or a filesystem grown by hand) stops it here, and the start below follows
    if (await applyDisk(c.h.t, c.bundle, a, (await observe(c, a)).status === "running", () => stop(c, a))) c.snapshots.invalidate();
    const now = await observe(c, a);
    if (a.state === "running" && now.status === "paused") {
      // frozen behind kslice's back: thawed, the same init goes on
      await c.runtime.resume(a.name);
      now.status = "running";
    }
    if (a.state === "stopped") {
      // an init that already exited (a crash waiting for its restart) is stopped too: marked, so
      // that neither the supervisor nor a boot starts it again
      if (now.status !== "missing") await stop(c, a);
      else await markStopped(c);
    } else if (now.status !== "running" || (now.pid !== olds.pid && !sameSpec(now.specHash, specOf(a, c, now.uidBase))) || now.security.length || sysctlRemoved(o, a) || procViewsRestart(o, a, now)) {
      // a removed sysctl restarts: its namespace's default is known only to a new namespace
      if (now.status === "running") await stop(c, a);
      await start(c, a);
    } else {
      // changed or drifted sysctls are written live, then into the spec a restart runs from
      if (now.sysctls.size) await writeSysctls(c.h.t, now.pid, Object.fromEntries([...now.sysctls.keys()].map((k) => [k, a.sysctls[k]!])));
      if (sysctlsChanged(o, a)) await putFiles(c, [{ path: `${c.bundle}/config.json`, content: JSON.stringify(specOf(a, c, now.uidBase), null, 2) }]);
      const pc = await planCtx(c, { ...a, limits: { io: { devices: [...(a.limits.io?.devices ?? []), ...(o.limits.io?.devices ?? [])] } } });
      const files = await c.h.cgroups.read(c.path);
      const wanted = c.h.cgroups.drift(c.h.cgroups.plan(a.limits, pc), files).map((d) => d.setting);
      await c.h.cgroups.apply(c.path, a.parent ?? "", [...c.h.cgroups.reset(removedLimits(o.limits, a.limits), pc), ...wanted]);
      // a restart by the supervisor (or a boot) must write the new limits, not the ones it started with
      if (JSON.stringify(o.limits) !== JSON.stringify(a.limits)) await putFiles(c, [await startFile(c, a)]);
      if (netChanged(o, a) || now.net?.attachments.length || now.net?.ports) await joinLive(c, o, a, now.pid);
      // another table's DNAT of the same host port is not ours to remove: say so, naming it
      if (now.net?.shadowed?.length) {
        throw new Error(`${c.h.t.target}: container ${a.name}: ${now.net.shadowed.join("; ")}; host ports belong to the machine: remove that rule or publish another port`);
      }
    }
    if (a.state === "stopped" && netChanged(o, a)) await prepareNet(c, a);
    if (gone(o, a).length) await releaseAddresses(c.h.t, c.layout, a.name, gone(o, a));
    if (o.ports.length && !a.ports.length) await releasePorts(c.h.t, c.layout, a.name);
    if (ownerOf(news) && ownerOf(olds) !== ownerOf(news)) await recordOwner(c, ownerOf(news)!);
    // the spec changed without a create: kslice.json names it, so adoption knows the declaration
    if (sysctlsChanged(o, a)) await recordSpecHash(c, hash(specOf(a, c, now.uidBase)));
    if (o.restartPolicy !== a.restartPolicy || o.logMaxSize !== a.logMaxSize) {
      await operate(c, a.name, filesAndSupervisorSteps(site(c, a.name), [
        { path: `${c.bundle}/restart`, content: a.restartPolicy },
        { path: `${c.bundle}/logmax`, content: String(a.logMaxSize) },
      ]));
    }
    c.snapshots.invalidate();
    return { outs: outputs(a, news, c, await observe(c, a)) };
  },

  async delete(_id, props) {
    const a = parse(props);
    const c = await context(a);
    // taken over by another owner (adopt: true): it is theirs now, and stays
    const meta = await readBundleRecord(c.h.t, c.bundle);
    const holder = recordedOwner(meta);
    if (holder && holder !== ownerOf(props)) {
      console.error(`warning: ${c.h.t.target}: container ${a.name} under prefix ${a.host.prefix} now belongs to ${holder}; left in place`);
      c.snapshots.invalidate();
      return;
    }
    await removeContainer(c.h, c.runtime, c.prefix, a.name, c.path, a.stopGraceSeconds * 1000);
    c.snapshots.invalidate();
  },
};

const sysctlsChanged = (o: ContainerArgs, a: ContainerArgs) => JSON.stringify(o.sysctls) !== JSON.stringify(a.sysctls);
const sysctlRemoved = (o: ContainerArgs, a: ContainerArgs) => Object.keys(o.sysctls).some((k) => !(k in a.sysctls));

const netKeys = ["networks", "ports", "dns", "hosts", "ingress"] as const;
const netChanged = (o: ContainerArgs, a: ContainerArgs) => netKeys.some((k) => JSON.stringify(o[k]) !== JSON.stringify(a[k]));
/** Networks the container left. */
const gone = (o: ContainerArgs, a: ContainerArgs) => {
  const now = new Set(a.networks.map(attachmentName));
  return o.networks.map(attachmentName).filter((n) => !now.has(n));
};

/** Applies networks, ports and DNS to a running container without restarting it (and repairs them). */
async function joinLive(c: Ctx, o: ContainerArgs, a: ContainerArgs, pid: number): Promise<void> {
  try {
    await prepareNet(c, a, pid);
  } catch (e) {
    // the state keeps the old declaration: claims on networks it does not know go, and net.sh is put back
    const before = new Set(o.networks.map(attachmentName));
    const added = a.networks.map(attachmentName).filter((n) => !before.has(n));
    if (added.length) await releaseAddresses(c.h.t, c.layout, a.name, added).catch(() => undefined);
    await prepareNet(c, o).catch(() => undefined);
    throw e;
  }
  // start.sh calls net.sh only when the container has networking: rewrite it when that changes
  if (hasNetworking(o) !== hasNetworking(a)) await start(c, a, true);
}

/** Writes the owner into the bundle's record (a container made before ownership was recorded). */
const recordOwner = (c: Ctx, owner: string) => amendRecord(c, { owner });

/** Writes the hash of the spec the container now runs from into the bundle's record. */
const recordSpecHash = (c: Ctx, specHash: string) => amendRecord(c, { specHash });

async function amendRecord(c: Ctx, fields: Record<string, string>): Promise<void> {
  const meta = await readBundleRecord(c.h.t, c.bundle);
  if (meta !== undefined) await putFile(c, `${c.bundle}/kslice.json`, JSON.stringify({ ...(JSON.parse(meta) as object), ...fields }));
}

/**
 * A container of this name is already on the host (state lost, or the provider killed mid-create).
 * If it was made from the same declaration, take it over without restarting it; otherwise refuse.
 */
async function adopt(c: Ctx, a: ContainerArgs, inputs: Props, spec: unknown, snap: ContainerSnapshot) {
  const meta = await readBundleRecord(c.h.t, c.bundle);
  const conflict = ownerConflict(`container ${a.name} under prefix ${a.host.prefix} on host ${c.h.t.target}`, recordedOwner(meta), ownerOf(inputs), a.adopt);
  if (conflict) throw new Error(`${c.h.t.target}: ${conflict}`);
  // kslice.json lost to a power loss: owner and declaration unknown, so taken as ownerless and
  // rebuilt from this declaration (its writable layer kept)
  const recordLost = snap.damaged.get(a.name)?.includes("kslice.json") ?? false;
  const recorded = recordLost ? hash(spec) : meta ? (JSON.parse(meta) as { specHash?: string }).specHash : undefined;
  if (!sameSpec(recorded, spec as Record<string, unknown>, true)) {
    throw new Error(
      `${c.h.t.target}: a container named ${a.name} already exists under prefix ${a.host.prefix} with another declaration; delete it or choose another name`,
    );
  }
  if (await repairRecords(c, a, ownerOf(inputs))) {
    c.snapshots.invalidate();
    snap = await c.snapshots.get();
  }
  // its range becomes a claim (a container made before ranges were allocated keeps its hashed one)
  await ensureRange(c.h.t, c.layout, a, snap);
  if (ownerOf(inputs) && recordedOwner(meta) !== ownerOf(inputs)) await recordOwner(c, ownerOf(inputs)!);
  const o = await observe(c, a, snap);
  if (a.state === "running" && o.status !== "running") await start(c, a);
  if (a.state === "stopped" && o.status === "running") await stop(c, a);
  c.snapshots.invalidate();
  return { id: `${connectionKey(a.host.connection)}/${a.host.prefix}/${a.name}`, outs: outputs(a, inputs, c, await observe(c, a)) };
}
