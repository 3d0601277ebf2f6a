import type { ContainerArgs } from "../../schema/container";
import type { Connection } from "../../schema/connection";
import type { InputFailure } from "../../schema/issues";
import { hostLayout } from "../kernel/container/layout";
import { readDiskRoom } from "../kernel/container/disk";
import { readableSize } from "../../schema/units";
import { promisedBytes } from "./container-disk";
import { startForMove, stopForMove, withHostDefaults } from "./container";
import { showSize } from "./disk-budget";
import { archiveUpperScript, hostClock, upperBytes, keepTargetManifestScript, liveSupportScript, pruneUpperScript, readMoveRecord, restoreUpperScript, upperManifestScript, upperSizeScript, writeMoveRecord, type ArchivePhase } from "../kernel/container/migrate";
import { baseOf, lowerOf } from "../kernel/container/rootfs";
import { chooseRuntime } from "../kernel/host-facts";
import { connectionKey } from "../transport/open";
import { pipeHosts, type PipeResult } from "../transport/stream";
import { hostSnapshots } from "./container-reads";
import { forgetReads, hostContext, type HostContext } from "./host-context";
import { hostMoved, machineIdentity } from "./host-identity";
import { ownerOf, recordedOwner } from "./ownership";
import type { CheckResult, DiffResult, LifecycleImpl, Props, UpdateResult } from "./provider-types";
import { pauseAt, pauseHook } from "./test-hooks";
import { containsUnknown } from "./unknown";

/**
 * A Container whose `host` moves to another machine (or prefix) migrates instead of being rebuilt
 * empty (ARCHITECTURE.md, "Migration"): created unstarted on the target from the same declaration,
 * stopped on the source, its writable layer streamed across by the provider, started on the target,
 * and only then removed from the source. Any failure before that removal undoes the target and
 * restarts the source as it was. This wraps the container lifecycle, whose create, update and
 * delete do the work on each host: the migration only orders them and moves the data.
 *
 * Its progress is recorded on the target as it goes (a Move in the bundle's migration.json): the
 * engine hears of a migration only when it returns, so a CLI killed meanwhile leaves a state that
 * still names the source while the provider went on. The next up reads the record and resumes
 * the move (the copy made again) or, once the data is on the target, takes it over as it is.
 */

type HostRef = ContainerArgs["host"];

/** Where a container was left when its source could not be reached (onSourceLost: "recreate"). */
export interface LeftBehind {
  connection: Connection;
  prefix: string;
  machineId: string | null;
  name: string;
}

export interface MigrationRecord {
  from: string;
  to: string;
  /** cold, live, or recreate (the source was lost: created afresh, its data left there) */
  mode: "cold" | "live" | "recreate";
  /** From the stop on the source to the start on the target; null when it was not started. */
  downtimeMs: number | null;
  /** Bytes of the writable layer moved, in all phases. */
  bytes: number;
  /** Of those, the bytes copied while the container still ran (0 when it did not run). */
  precopyBytes: number;
  /** The target had no rootfs template: it was built there first. */
  templateBuilt: boolean;
  at: string;
}

/** How messages name a host: its connection, and its prefix when the move changes that. */
function where(host: HostRef, other: HostRef): string {
  return host.prefix === other.prefix ? connectionKey(host.connection) : `${connectionKey(host.connection)} (prefix ${host.prefix})`;
}

/** The same connection with a short connect timeout: a lost host must not hold a preview long. */
function quick(connection: Connection): Connection {
  return connection.type === "ssh" ? { ...connection, connectTimeoutSeconds: Math.min(3, connection.connectTimeoutSeconds) } : connection;
}

/** The host's context, or why it cannot be reached. */
async function reach(host: HostRef, fast = false): Promise<{ h: HostContext } | { error: string }> {
  try {
    const h = await hostContext(fast ? { ...host, connection: quick(host.connection) } : host);
    await h.t.run(["true"], { timeoutMs: 15_000 });
    return { h };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Why `host` cannot checkpoint and restore a container, or undefined when it can. */
export async function liveUnsupported(h: HostContext, host: HostRef): Promise<string | undefined> {
  const chosen = chooseRuntime(h.facts, host.runtime ?? "auto");
  if ("error" in chosen) return chosen.error;
  const r = await h.t.run(["sh", "-c", liveSupportScript(chosen.runtime.name)], { timeoutMs: 30_000, allowFailure: true });
  const answer = r.stdout.trim() || r.stderr.trim() || `exit ${r.exitCode}`;
  if (answer !== "ok") return answer;
  // kslice restores only what it can give back as it was: an init on networks would come back
  // without its veths (made by net.sh from the host side at each start)
  return "live restore is not implemented yet (kslice restarts containers through start.sh)";
}

/** The migration mode to use, or why the declared one cannot be had. */
export async function chooseMode(
  declared: ContainerArgs["migration"],
  from: { h: HostContext; host: HostRef; name: string },
  to: { h: HostContext; host: HostRef; name: string },
): Promise<{ mode: "cold" | "live"; fallback?: string } | { error: string }> {
  if (declared === "cold") return { mode: "cold" };
  const why = [
    await liveUnsupported(from.h, from.host).then((w) => w && `host ${from.name}: ${w}`),
    await liveUnsupported(to.h, to.host).then((w) => w && `host ${to.name}: ${w}`),
  ].filter(Boolean).join("; ");
  if (!why) return { mode: "live" };
  return declared === "live" ? { error: why } : { mode: "cold", fallback: why };
}

/** A failure of one step of a migration, naming the step and the host it ran on. */
class StepError extends Error {
  constructor(readonly step: string, readonly host: string, cause: unknown) {
    super(`step "${step}" on host ${host}: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

async function step<T>(name: string, host: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof StepError ? e : new StepError(name, host, e);
  }
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const log = (s: string) => console.error(`kslice: ${s}`);

/** Reads the user-namespace base a bundle was made with (kslice.json), if any. */
async function uidBase(h: HostContext, bundle: string): Promise<number | undefined> {
  const [meta] = await h.t.readFiles([`${bundle}/kslice.json`]);
  try {
    const b = meta ? (JSON.parse(meta) as { uidBase?: unknown }).uidBase : undefined;
    return typeof b === "number" ? b : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Streams the source bundle's upper dir into the target bundle (host to host through this
 * process), shifting user-namespace ids when the target's range differs. Returns the bytes moved.
 */
async function copyUpper(
  from: { h: HostContext; host: HostRef; name: string },
  to: { h: HostContext; host: HostRef; name: string },
  a: ContainerArgs,
  container: string,
  phase: ArchivePhase = { kind: "whole" },
): Promise<number> {
  const src = hostLayout(from.host.prefix).bundle(container);
  const dst = hostLayout(to.host.prefix).bundle(a.name);
  const [fromBase, toBase] = [await uidBase(from.h, src), await uidBase(to.h, dst)];
  const shift = fromBase !== undefined && toBase !== undefined ? { from: fromBase, to: toBase } : undefined;
  const what = phase.kind === "precopy" ? "pre-copy" : phase.kind === "changes" ? "copy of the changes" : "copy";
  if (phase.kind === "changes") {
    // what went since the pre-copy goes on the target too, before the changed files land
    const pruned = await pipeHosts(from.h.t, ["sh", "-c", upperManifestScript(src)], to.h.t, ["sh", "-c", pruneUpperScript(dst)], { timeoutMs: 600_000 });
    sideFailed(pruned, "listing of the writable layer", "removal of what went since the pre-copy", from.name, to.name);
    // and what the target holds then goes back: what it lacks goes too, whatever its times
    const listed = await pipeHosts(to.h.t, ["sh", "-c", upperManifestScript(dst)], from.h.t, ["sh", "-c", keepTargetManifestScript(src)], { timeoutMs: 600_000 });
    sideFailed(listed, "listing of the target's copy", "keeping the target's listing", to.name, from.name);
  }
  const total = phase.kind === "changes" ? 0 : Number((await from.h.t.run(["sh", "-c", upperSizeScript(src)])).stdout.trim()) || 0;
  let last = Date.now();
  const r = await pipeHosts(
    from.h.t, ["sh", "-c", archiveUpperScript(src, shift, phase)],
    to.h.t, ["sh", "-c", restoreUpperScript(dst, lowerOf(hostLayout(to.host.prefix), a.rootfs), pauseHook(), phase.kind)],
    {
      timeoutMs: 3_600_000,
      onBytes: (n) => {
        if (Date.now() - last < 5000) return;
        last = Date.now();
        log(`container ${a.name}: migrating from ${from.name} to ${to.name}: ${what}: ${mib(n)}${total ? ` of about ${mib(total)}` : ""} moved`);
      },
    },
  );
  sideFailed(r, "copy of the writable layer (tar)", "copy of the writable layer (unpack)", from.name, to.name);
  return r.bytes;
}

/** Throws naming the side of a pipe that failed (the target's first: a source killed by the pipe says less). */
function sideFailed(r: PipeResult, fromStep: string, toStep: string, fromName: string, toName: string): void {
  const failed = (side: { exitCode: number; stderr: string; timedOut: boolean }) =>
    side.timedOut ? "timed out" : `exited with ${side.exitCode}: ${side.stderr.trim() || "(no stderr)"}`;
  if (r.to.exitCode !== 0 || r.to.timedOut) throw new StepError(toStep, toName, new Error(failed(r.to)));
  if (r.from.exitCode !== 0 || r.from.timedOut) throw new StepError(fromStep, fromName, new Error(failed(r.from)));
}

/**
 * How far a migration got, as recorded on the target (migration.json). `copying`: the source was
 * (being) stopped and the copy is not known complete; `copied`: the writable layer is on the
 * target; `started`: the target holds the container as declared (running or not) and `result` is
 * the migration's record: only the source's removal may be missing.
 */
interface Move {
  source: { connection: string; prefix: string; name: string };
  phase: "copying" | "copied" | "started";
  /** The source ran before the migration stopped it: a rollback starts it again. */
  wasRunning: boolean;
  /** When the source was stopped (ms since the epoch): downtime counts from there. */
  stoppedAt: number | null;
  bytes: number;
  templateBuilt: boolean;
  result?: MigrationRecord;
}

const sourceOf = (o: ContainerArgs): Move["source"] => ({ connection: connectionKey(o.host.connection), prefix: o.host.prefix, name: o.name });

/**
 * The record an interrupted migration of this resource from this source left on the target, or
 * undefined: none, another source's, or a target container of another owner (create refuses that).
 */
async function interrupted(h: HostContext, o: ContainerArgs, a: ContainerArgs, owner: string | undefined): Promise<Move | undefined> {
  const { meta, record } = await readMoveRecord(h.t, hostLayout(a.host.prefix).bundle(a.name));
  if (meta === undefined || recordedOwner(meta) !== owner) return undefined;
  const m = record as Partial<Move> | undefined;
  if (!m || !["copying", "copied", "started"].includes(m.phase as string)) return undefined;
  return JSON.stringify(m.source) === JSON.stringify(sourceOf(o)) ? (m as Move) : undefined;
}

/**
 * The record of the finished migration that brought this resource's container to its host, or
 * null: what a create that takes over a migrated container keeps as lastMigration (the state lost
 * the move, e.g. a `refresh` after an interrupted one found the source gone and dropped it).
 */
async function migratedHere(a: ContainerArgs, owner: string | undefined): Promise<MigrationRecord | null> {
  const { meta, record } = await readMoveRecord((await hostContext(a.host)).t, hostLayout(a.host.prefix).bundle(a.name));
  const m = record as Partial<Move> | undefined;
  return meta !== undefined && recordedOwner(meta) === owner && m?.phase === "started" && m.result ? m.result : null;
}

/** Moves a container from olds' host to news' host; see the file's comment. */
async function migrate(inner: LifecycleImpl, id: string, olds: Props, news: Props, o: ContainerArgs, a: ContainerArgs): Promise<UpdateResult> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  const source = await reach(o.host);
  if ("error" in source) return sourceLost(inner, olds, news, o, a, source.error);
  const target = await reach(a.host);
  if ("error" in target) throw new Error(`container ${a.name}: cannot migrate to host ${toName}, which cannot be reached: ${target.error}`);
  const from = { h: source.h, host: o.host, name: fromName };
  const to = { h: target.h, host: a.host, name: toName };
  const dst = hostLayout(a.host.prefix).bundle(a.name);
  const prior = await interrupted(target.h, o, a, ownerOf(news));
  if (prior && prior.phase !== "copying") return takeOver(inner, id, olds, news, o, a, prior, target.h);
  const chosen = await chooseMode(a.migration, from, to);
  if ("error" in chosen) throw new Error(`container ${a.name}: migration: "live" is not possible: ${chosen.error}`);
  if (chosen.fallback) log(`warning: container ${a.name}: live migration is not possible (${chosen.fallback}); migrating cold`);
  // live would land here once implemented; chooseMode never answers "live" before then
  const mode = "cold" as const;
  log(prior
    ? `container ${a.name}: resuming the migration from ${fromName} to ${toName} that was interrupted during its copy (${mode})`
    : `container ${a.name}: migrating from ${fromName} to ${toName} (${mode})`);

  const before = await inner.read(id, olds);
  // resumed: the source was stopped by the interrupted run, so its record says whether it ran
  const wasRunning = prior ? prior.wasRunning : before.props?.status === "running" || before.props?.status === "paused";
  const templateBuilt = prior ? prior.templateBuilt : !("path" in baseOf(a.rootfs)) && (await target.h.t.run(["test", "-d", lowerOf(hostLayout(a.host.prefix), a.rootfs)], { allowFailure: true })).exitCode !== 0;
  const move = (m: Omit<Move, "source" | "templateBuilt">) => writeMoveRecord(target.h.t, dst, { source: sourceOf(o), templateBuilt, ...m });
  let created: Props | undefined;
  let stopped = false;
  let bytes = 0;
  let precopyBytes = 0;
  let since: number | undefined;
  // where the downtime went: the stop, the copy while stopped, the start (for the log)
  const spent: string[] = [];
  const lap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await f();
    spent.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
  let stoppedAt = 0;
  let outs: Props;
  let record: MigrationRecord;
  try {
    // made first (its template built if missing) while the source still runs: shorter downtime
    created = (await step("create on target (unstarted)", toName, () => inner.create({ ...news, state: "stopped" }))).outs ?? {};
    if (before.props && wasRunning && !prior) {
      // copied while it runs, then only what changed while it is stopped: the downtime is the changes'
      since = (await step("clock on source", fromName, () => hostClock(from.h.t))) - 2;
      const began = Date.now();
      precopyBytes = await step("pre-copy of the writable layer", `${fromName} → ${toName}`, () => copyUpper(from, to, a, o.name, { kind: "precopy" }));
      log(`container ${a.name}: pre-copied ${mib(precopyBytes)} to ${toName} while it ran (${((Date.now() - began) / 1000).toFixed(1)} s); stopping it for the changes`);
    }
    if (before.props) {
      stoppedAt = prior?.stoppedAt ?? Date.now();
      stopped = wasRunning; // set before: a stop that failed half-way is undone by a start too
      // recorded before the stop: an interruption from here on is resumed, the source restarted on a failure
      await step("record on target", toName, () => move({ phase: "copying", wasRunning, stoppedAt, bytes: 0 }));
      await lap("stop", () => step("stop on source", fromName, () => stopForMove(olds)));
      const phase: ArchivePhase = since === undefined ? { kind: "whole" } : { kind: "changes", since };
      bytes = precopyBytes + (await lap(since === undefined ? "copy" : "copy of the changes", () => step("copy of the writable layer", `${fromName} → ${toName}`, () => copyUpper(from, to, a, o.name, phase))));
    } else {
      log(`warning: container ${a.name}: not on ${fromName} (deleted behind kslice's back): created on ${toName} from its declaration, with no data to move`);
    }
    await step("record on target", toName, () => move({ phase: "copied", wasRunning, stoppedAt: stoppedAt || null, bytes }));
    outs = a.state === "running"
      ? await lap("start", () => step("start on target", toName, () => startForMove(news)))
      : ((await step("record on target", toName, () => inner.update(id, created!, news))).outs ?? {});
    const downtimeMs = a.state === "running" && stoppedAt ? Date.now() - stoppedAt : null;
    record = { from: fromName, to: toName, mode, downtimeMs, bytes, precopyBytes, templateBuilt, at: new Date().toISOString() };
    await step("record on target", toName, () => move({ phase: "started", wasRunning, stoppedAt: stoppedAt || null, bytes, result: record }));
  } catch (e) {
    const undo: string[] = [];
    if (created) await inner.delete(id, created).catch((u: Error) => undo.push(`removing it from ${toName} failed too: ${u.message}`));
    if (stopped) await inner.update(id, { ...olds, state: "stopped" }, olds).catch((u: Error) => undo.push(`restarting it on ${fromName} failed too: ${u.message}`));
    forgetReads();
    const state = undo.length ? undo.join("; ") : `it is on ${fromName} as before${stopped ? " (restarted)" : ""}`;
    throw new Error(`container ${a.name}: migration from ${fromName} to ${toName} failed at ${(e as Error).message}; ${state}`, { cause: e });
  }
  const leftBehind = await removeSource(inner, id, olds, o, toName, fromName);
  forgetReads();
  const phases = precopyBytes ? ` (${mib(precopyBytes)} while it ran, ${mib(bytes - precopyBytes)} while it was stopped)` : "";
  log(`container ${a.name}: migrated from ${fromName} to ${toName} (${mode}): ${mib(bytes)} moved${phases}${templateBuilt ? ", template built on the target first" : ""}, downtime ${record.downtimeMs === null ? "none (not started)" : `${record.downtimeMs} ms (${spent.join(", ")})`}`);
  await pauseAt("migrated");
  return { outs: { ...outs, lastMigration: record, leftBehind } };
}

/**
 * The last step of a move: the container goes from the source. When that fails, it runs on the
 * target already: the copy on the source goes at a later up, when that host answers (leftBehind).
 */
async function removeSource(inner: LifecycleImpl, id: string, olds: Props, o: ContainerArgs, toName: string, fromName: string): Promise<LeftBehind[]> {
  try {
    await inner.delete(id, olds);
    return leftBehindOf(olds);
  } catch (e) {
    log(`warning: container ${o.name}: migrated to ${toName}, but removing it from ${fromName} failed (${(e as Error).message}); the next up removes it`);
    return [...leftBehindOf(olds), { connection: o.host.connection, prefix: o.host.prefix, machineId: typeof olds.machineId === "string" ? olds.machineId : null, name: o.name }];
  }
}

/**
 * An interrupted migration whose data had reached the target (its record says copied or started):
 * the container there is this resource's, taken over as it is (create adopts it: a running init
 * keeps its pid; one the interruption left unstarted is started now), the source removed if it is
 * still there, and the migration's own record kept as lastMigration.
 */
async function takeOver(inner: LifecycleImpl, id: string, olds: Props, news: Props, o: ContainerArgs, a: ContainerArgs, prior: Move, h: HostContext): Promise<UpdateResult> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  log(`container ${a.name}: the migration from ${fromName} to ${toName} was interrupted after its data moved: taken over on ${toName} as it is`);
  const outs = (await step("take over on target", toName, () => inner.create(news))).outs ?? {};
  let record = prior.result;
  if (!record) {
    const downtimeMs = a.state === "running" && prior.stoppedAt ? Date.now() - prior.stoppedAt : null;
    record = { from: fromName, to: toName, mode: "cold", downtimeMs, bytes: prior.bytes, precopyBytes: 0, templateBuilt: prior.templateBuilt, at: new Date().toISOString() };
    await step("record on target", toName, () => writeMoveRecord(h.t, hostLayout(a.host.prefix).bundle(a.name), { ...prior, phase: "started", result: record }));
  }
  const leftBehind = (await inner.read(id, olds)).props ? await removeSource(inner, id, olds, o, toName, fromName) : leftBehindOf(olds);
  forgetReads();
  log(`container ${a.name}: migrated from ${fromName} to ${toName} (${record.mode}): ${mib(record.bytes)} moved, downtime ${record.downtimeMs === null ? "none (not started)" : `${record.downtimeMs} ms`}`);
  return { outs: { ...outs, lastMigration: record, leftBehind } };
}

/** The source cannot be reached: fail naming it, or (onSourceLost: "recreate") create afresh on the target. */
async function sourceLost(inner: LifecycleImpl, olds: Props, news: Props, o: ContainerArgs, a: ContainerArgs, why: string): Promise<UpdateResult> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  if (a.onSourceLost === "fail") {
    throw new Error(`container ${a.name}: cannot migrate from host ${fromName}, which cannot be reached (${why}); set onSourceLost: "recreate" to create it afresh on ${toName} without its data`);
  }
  log(`warning: container ${a.name}: host ${fromName} cannot be reached (${why}): re-created EMPTY on ${toName}; its data on ${fromName} is lost to it (removed when that host answers again)`);
  const created = (await inner.create(news)).outs ?? {};
  forgetReads();
  const leftBehind = [...leftBehindOf(olds), { connection: o.host.connection, prefix: o.host.prefix, machineId: typeof olds.machineId === "string" ? olds.machineId : null, name: o.name }];
  const record: MigrationRecord = { from: fromName, to: toName, mode: "recreate", downtimeMs: null, bytes: 0, precopyBytes: 0, templateBuilt: false, at: new Date().toISOString() };
  return { outs: { ...created, lastMigration: record, leftBehind } };
}

export function leftBehindOf(props: Props): LeftBehind[] {
  return Array.isArray(props.leftBehind) ? (props.leftBehind as LeftBehind[]) : [];
}

/** Left-behind copies whose host answers again (short connect timeout: a lost host stays cheap). */
async function reachableLeftBehind(props: Props): Promise<LeftBehind[]> {
  const all = leftBehindOf(props);
  const answers = await Promise.all(all.map(async (l) => ("h" in (await reach({ connection: l.connection, prefix: l.prefix }, true)) ? l : undefined)));
  return answers.filter((l): l is LeftBehind => l !== undefined);
}

/**
 * Removes the copies left on hosts that answer again: only a container this resource made (its
 * kslice.json names this resource's URN as owner); one of another owner is left alone and
 * forgotten. Returns the records still waiting for their host.
 */
async function cleanLeftBehind(inner: LifecycleImpl, id: string, props: Props): Promise<LeftBehind[]> {
  const all = leftBehindOf(props);
  if (!all.length) return all;
  const back = await reachableLeftBehind(props);
  for (const l of back) {
    const host = { connection: quick(l.connection), prefix: l.prefix };
    const h = await hostContext(host);
    const [meta] = await h.t.readFiles([`${hostLayout(l.prefix).bundle(l.name)}/kslice.json`]);
    const holder = recordedOwner(meta);
    if (meta !== undefined && holder !== ownerOf(props)) {
      log(`warning: container ${l.name} left on ${connectionKey(l.connection)} belongs to ${holder ?? "no one"}, not to this resource: left in place`);
      continue;
    }
    if (meta !== undefined) {
      await inner.delete(id, { ...props, host: host, name: l.name, leftBehind: undefined });
      log(`container ${l.name}: the copy left on ${connectionKey(l.connection)} when it was lost is removed`);
    }
  }
  forgetReads();
  return all.filter((l) => !back.includes(l));
}

/** Migration outputs kept across updates and refreshes (the container lifecycle knows nothing of them). */
function carried(olds: Props): Props {
  return { lastMigration: olds.lastMigration ?? null, leftBehind: leftBehindOf(olds) };
}

/**
 * The container lifecycle with migration: a host change that is only a move (nothing else that
 * replaces changed) is an update that migrates; check refuses "live" where it cannot be had;
 * diff says which containers will migrate, and finds left-behind copies whose host is back.
 */
export function withMigration(inner: LifecycleImpl, declaration: (props: Props) => ContainerArgs | undefined, replaceKeys: readonly string[]): LifecycleImpl {
  const moving = async (olds: Props, news: Props) => {
    const o = declaration(olds);
    const a = declaration(news);
    if (!o || !a) return undefined;
    if (replaceKeys.some((k) => JSON.stringify(o[k as keyof ContainerArgs]) !== JSON.stringify(a[k as keyof ContainerArgs]))) return undefined;
    return (await hostMoved(olds, o.host, a.host)) ? { o, a } : undefined;
  };
  return {
    ...inner,

    async check(olds, news): Promise<CheckResult> {
      const room = await roomAdmission(olds, news, declaration);
      if (room.length) return { failures: room };
      const r = await inner.check(olds, news);
      if (r.failures?.length || !r.inputs || containsUnknown(r.inputs)) return r;
      const failures = await liveAdmission(olds, r.inputs, declaration);
      return failures.length ? { failures } : r;
    },

    async diff(id, olds, news): Promise<DiffResult> {
      if (containsUnknown(news)) return inner.diff(id, olds, news);
      const m = await moving(olds, news);
      if (m) {
        await announce(m.o, m.a, ownerOf(news));
        return { changes: true };
      }
      const r = await inner.diff(id, olds, news);
      if (r.changes || !leftBehindOf(olds).length) return r;
      return { changes: (await reachableLeftBehind(olds)).length > 0 };
    },

    async update(id, olds, news) {
      const m = await moving(olds, news);
      if (m) return migrate(inner, id, olds, news, m.o, m.a);
      const r = await inner.update(id, olds, news);
      const leftBehind = await cleanLeftBehind(inner, id, { ...news, leftBehind: olds.leftBehind });
      return { outs: { ...r.outs, ...carried(olds), leftBehind } };
    },

    async create(inputs) {
      // a bundle already there is taken over by the create: one a migration brought keeps its record
      const a = declaration(inputs);
      const existed = a !== undefined && (await hostSnapshots(await hostContext(a.host), a.host).claims()).bundles.has(a.name);
      const r = await inner.create(inputs);
      const lastMigration = existed ? await migratedHere(a, ownerOf(inputs)) : null;
      return { ...r, outs: { ...r.outs, lastMigration, leftBehind: [] } };
    },

    async read(id, props) {
      const r = await inner.read(id, props);
      return r.props ? { ...r, props: { ...r.props, ...carried(props) } } : r;
    },
  };
}

/** Preview's word on a move: which container migrates where, how, or why it cannot. */
async function announce(o: ContainerArgs, a: ContainerArgs, owner: string | undefined): Promise<void> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  const source = await reach(o.host, true);
  if ("error" in source) {
    if (a.onSourceLost === "fail") {
      throw new Error(`container ${a.name}: cannot migrate from host ${fromName}, which cannot be reached (${source.error}); set onSourceLost: "recreate" to create it afresh on ${toName} without its data`);
    }
    log(`warning: container ${a.name} will be re-created EMPTY on ${toName}: host ${fromName} cannot be reached (${source.error}), onSourceLost: "recreate"`);
    return;
  }
  const target = await reach(a.host);
  if ("error" in target) throw new Error(`container ${a.name}: cannot migrate to host ${toName}: ${target.error}`);
  const prior = await interrupted(target.h, o, a, owner);
  if (prior && prior.phase !== "copying") {
    log(`container ${a.name}: its migration from ${fromName} to ${toName} was interrupted after its data moved: it will be taken over there as it is`);
    return;
  }
  const chosen = await chooseMode(a.migration, { h: source.h, host: o.host, name: fromName }, { h: target.h, host: a.host, name: toName });
  if ("error" in chosen) throw new Error(`container ${a.name}: migration: "live" is not possible: ${chosen.error}`);
  const fallback = chosen.fallback ? ` (live is not possible: ${chosen.fallback})` : "";
  const resumed = prior ? " (resuming the one interrupted during its copy)" : "";
  log(`container ${a.name} will migrate from ${fromName} to ${toName} (${chosen.mode})${fallback}${resumed}`);
}

/**
 * A move is refused at check when its target has no room for the container, naming the target,
 * the bytes it needs and the bytes free there: its `disk.max` (the image the target makes, counted
 * whole as at any create: container-disk.ts diskRoomShortfall) or, without a disk limit, what its
 * writable layer takes on the source now. The other images' unwritten part on the target's prefix
 * counts as taken. Both are measured by kernel/ (readDiskRoom, upperBytes); hosts that cannot be
 * reached are left to diff and update (onSourceLost), and a target that already holds the
 * container's image (an interrupted move) needs no new room.
 */
async function roomAdmission(olds: Props, news: Props, declaration: (props: Props) => ContainerArgs | undefined): Promise<InputFailure[]> {
  if (containsUnknown(news)) return [];
  const o = declaration(olds);
  // the disk the check will give it: declared, or the Host's default
  const a = declaration(withHostDefaults(olds, news, news.hostDefaults));
  const ends = o && a ? await movingEnds(o, a) : undefined;
  if (!o || !a || !ends) return [];
  const { source, target } = ends;
  const layout = hostLayout(a.host.prefix);
  const room = await readDiskRoom(target.h.t, layout);
  if (room.images.has(a.name)) return [];
  const need = a.disk ? a.disk.max : await upperBytes(source.h.t, hostLayout(o.host.prefix).bundle(o.name));
  const promised = promisedBytes(room, a.name);
  const left = room.avail - promised;
  if (need <= left) return [];
  const what = a.disk ? `its disk.max ${showSize(a.disk.max)} (the image it gets there)` : `${readableSize(need)} (${need} bytes) for its writable layer, what it takes on host ${where(o.host, a.host)} now`;
  const held = promised ? ` (${readableSize(promised)} of it promised to the unwritten part of that prefix's disk images: ${readableSize(Math.max(0, left))} left)` : "";
  return [{
    property: "host",
    reason: `container ${a.name} cannot migrate to host ${where(a.host, o.host)}: it needs ${what}, and that host has ${readableSize(room.avail)} (${room.avail} bytes) free under ${layout.stateDir}${held}: ${readableSize(need - left)} short`,
  }];
}

/**
 * Both ends of a move at check, reached: undefined when the container does not move (same host
 * and prefix, under either name) or when a host cannot be reached (left to diff and update,
 * onSourceLost).
 */
async function movingEnds(o: ContainerArgs, a: ContainerArgs) {
  if (o.host.prefix === a.host.prefix && JSON.stringify(o.host.connection) === JSON.stringify(a.host.connection)) return undefined;
  const source = await reach(o.host, true);
  const target = await reach(a.host);
  if ("error" in source || "error" in target) return undefined;
  const same = machineIdentity(source.h.facts, o.host.connection) === machineIdentity(target.h.facts, a.host.connection);
  return same && o.host.prefix === a.host.prefix ? undefined : { source, target };
}

/**
 * migration: "live" is refused at check when the container moves and either host cannot
 * checkpoint and restore (naming the host and why). A source that cannot be reached is left to
 * diff and update (onSourceLost).
 */
async function liveAdmission(olds: Props, inputs: Props, declaration: (props: Props) => ContainerArgs | undefined): Promise<InputFailure[]> {
  if (inputs.migration !== "live") return [];
  const o = declaration(olds);
  const a = declaration(inputs);
  const ends = o && a ? await movingEnds(o, a) : undefined;
  if (!o || !a || !ends) return [];
  const { source, target } = ends;
  const chosen = await chooseMode("live", { h: source.h, host: o.host, name: where(o.host, a.host) }, { h: target.h, host: a.host, name: where(a.host, o.host) });
  return "error" in chosen ? [{ property: "migration", reason: `got "live", but the container cannot move live: ${chosen.error}; use "live-or-cold" or "cold"` }] : [];
}
