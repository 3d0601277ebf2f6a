import type { ContainerArgs } from "../../../schema/container";
import { readableSize } from "../../../schema/units";
import { hostLayout } from "../../kernel/container/layout";
import { checkpointDir, hostClock, writeMoveRecord, type ArchivePhase } from "../../kernel/container/migrate";
import { checkpointOnSource, hasTemplate, readUidBase, streamImages, streamUpper } from "../../kernel/container/move";
import { chooseRuntime } from "../../kernel/host-facts";
import { baseOf, lowerOf } from "../../kernel/container/rootfs";
import { forgetReads, type HostContext } from "../host-context";
import { ownerOf } from "../ownership";
import type { Inputs, State, Updated } from "../kind";
import type { Ct } from "./inputs";
import { pauseAt, pauseHook } from "../test-hooks";
import { applyDeclaration } from "./apply";
import { context } from "./context";
import { createContainer } from "./create";
import { deleteContainer } from "./delete";
import { parse } from "./inputs";
import { chooseMode, reach, where, type HostRef } from "./move-plan";
import { interrupted, sourceOf, type MigrationRecord, type Move } from "./move-records";
import { observe, outputs } from "./observe";
import { readContainer } from "./read";
import { isLive } from "./status";
import { hasNetworking } from "./network";
import { start, stop } from "./steps";
import { info, warn } from "../../log";
import { mib, preDumpRounds, removeSource, sourceLost, step, takeOver } from "./move-ends";

/**
 * A Container whose `host` moves to another machine (or prefix) migrates instead of being rebuilt
 * empty (ARCHITECTURE.md, "Migration"): created unstarted on the target from the same declaration,
 * pre-copied while it runs, stopped on the source, what changed streamed across by the provider,
 * started on the target, and only then removed from the source. Any failure before that removal
 * undoes the target and restarts the source as it was. The container's own create, update and
 * delete do the work on each host: the migration orders them and moves the data.
 *
 * Its progress is recorded on the target as it goes (a Move in the bundle's migration.json): the
 * engine hears of a migration only when it returns, so a CLI killed meanwhile leaves a state that
 * still names the source while the provider went on. The next up reads the record and resumes
 * the move (the copy made again) or, once the data is on the target, takes it over as it is.
 */

type End = { h: HostContext; host: HostRef; name: string };

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Pre-dump rounds at most: each costs the source a criu run and a copy while it runs, not downtime. */
const maxPreDumps = 3;

/** The runtime a host runs a container with (chooseMode checked it can checkpoint). */
function runtimeOf(h: HostContext, host: HostRef): "runc" | "crun" {
  const chosen = chooseRuntime(h.facts, host.runtime ?? "auto");
  if ("error" in chosen) throw new Error(chosen.error);
  return chosen.runtime.name;
}

/** Streams the source's writable layer into the target's bundle, shifting ids when the ranges differ. Returns the bytes moved. */
async function copyUpper(from: End, to: End, a: ContainerArgs, container: string, phase: ArchivePhase = { kind: "whole" }): Promise<number> {
  const src = { t: from.h.t, name: from.name, bundle: hostLayout(from.host.prefix).bundle(container) };
  const dst = { t: to.h.t, name: to.name, bundle: hostLayout(to.host.prefix).bundle(a.name) };
  const [fromBase, toBase] = [await readUidBase(src.t, src.bundle), await readUidBase(dst.t, dst.bundle)];
  const shift = fromBase !== undefined && toBase !== undefined ? { from: fromBase, to: toBase } : undefined;
  const what = phase.kind === "precopy" ? "pre-copy" : phase.kind === "changes" ? "copy of the changes" : "copy";
  let last = Date.now();
  return streamUpper(src, dst, {
    shift,
    phase,
    lower: lowerOf(hostLayout(to.host.prefix), a.rootfs),
    hook: pauseHook(),
    onBytes: (n, total) => {
      if (Date.now() - last < 5000) return;
      last = Date.now();
      info(`container ${a.name}: migrating from ${from.name} to ${to.name}: ${what}: ${mib(n)}${total ? ` of about ${mib(total)}` : ""} moved`);
    },
  });
}

/**
 * A migration's stop on the source: the stop alone, without update's reads before and after it
 * (stopInit takes any state: running, paused, exited, missing), so that the downtime holds only
 * the stop itself. The migration keeps the source's outputs it had.
 */
async function stopForMove(props: State<Ct>): Promise<void> {
  const a = parse(props);
  const c = await context(a, "update");
  try {
    await stop(c, a);
  } finally {
    c.snapshots.invalidate();
  }
}

/**
 * A migration's start on the target, of the container it created there unstarted from the same
 * declaration: the start alone, without update's reads before it (its records, disk and state are
 * the create's). It runs when this resolves, which ends the downtime; `outputs` reads them after.
 */
async function startForMove(news: Inputs<Ct>, restoreFrom?: string): Promise<{ outputs: () => Promise<State<Ct>> }> {
  const a = parse(news);
  const c = await context(a, "update");
  try {
    await start(c, a, false, undefined, restoreFrom);
  } finally {
    c.snapshots.invalidate();
  }
  return { outputs: async () => outputs(a, news, c, await observe(c, a)) };
}
/** Moves a container from olds' host to news' host; see the file's comment. */
export async function migrate(id: string, olds: State<Ct>, news: Inputs<Ct>, o: ContainerArgs, a: ContainerArgs): Promise<Updated<Ct>> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  const source = await reach(o.host);
  if ("error" in source) return sourceLost(olds, news, o, a, source.error);
  const target = await reach(a.host);
  if ("error" in target) throw new Error(`container ${a.name}: cannot migrate to host ${toName}, which cannot be reached: ${target.error}`);
  const from = { h: source.h, host: o.host, name: fromName };
  const to = { h: target.h, host: a.host, name: toName };
  const dst = hostLayout(a.host.prefix).bundle(a.name);
  const prior = await interrupted(target.h, o, a, ownerOf(news));
  if (prior && prior.phase !== "copying") return takeOver(id, olds, news, o, a, prior, target.h);
  const chosen = await chooseMode(a.migration, from, to, hasNetworking(a));
  if ("error" in chosen) throw new Error(`container ${a.name}: migration: "live" is not possible: ${chosen.error}`);
  if (chosen.fallback) warn(`container ${a.name}: live migration is not possible (${chosen.fallback}); migrating cold`);
  const before = await readContainer(id, olds);
  // resumed: the source was stopped by the interrupted run, so its record says whether it ran
  const wasRunning = prior ? prior.wasRunning : isLive(before.props?.status);
  // live moves processes: a container that does not run on both ends (or a resumed move, whose
  // source is stopped already) moves its data cold
  const live = chosen.mode === "live" && !prior && !!before.props && wasRunning && a.state === "running";
  const mode = live ? ("live" as const) : ("cold" as const);
  info(
    prior
      ? `container ${a.name}: resuming the migration from ${fromName} to ${toName} that was interrupted during its copy (${mode})`
      : `container ${a.name}: migrating from ${fromName} to ${toName} (${mode})`,
  );
  const templateBuilt = prior
    ? prior.templateBuilt
    : !("path" in baseOf(a.rootfs)) && !(await hasTemplate(target.h.t, lowerOf(hostLayout(a.host.prefix), a.rootfs)));
  const move = (m: Omit<Move, "source" | "templateBuilt">) => writeMoveRecord(target.h.t, dst, { source: sourceOf(o), templateBuilt, ...m });
  let created: State<Ct> | undefined;
  let stopped = false;
  let bytes = 0;
  let precopyBytes = 0;
  let since: number | undefined;
  // where the downtime went: the stop, the copy while stopped, the start (for the log)
  const spent: string[] = [];
  const lap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await f();
    spent.push(`${what} ${secs(Date.now() - t0)}`);
    return r;
  };
  let stoppedAt = 0;
  const imageBytes = { pre: 0, final: 0 };
  const preDumps: { pages: number; images: number }[] = [];
  let outs: State<Ct>;
  let record: MigrationRecord;
  try {
    // made first (its template built if missing) while the source still runs: shorter downtime
    created = (await step("create on target (unstarted)", toName, () => createContainer({ ...news, state: "stopped" }))).outs;
    if (before.props && wasRunning && !prior) {
      // copied while it runs, then only what changed while it is stopped: the downtime is the changes'
      since = (await step("clock on source", fromName, () => hostClock(from.h.t))) - 2;
      const began = Date.now();
      precopyBytes = await step("pre-copy of the writable layer", `${fromName} → ${toName}`, () => copyUpper(from, to, a, o.name, { kind: "precopy" }));
      info(
        `container ${a.name}: pre-copied ${mib(precopyBytes)} to ${toName} while it ran (${((Date.now() - began) / 1000).toFixed(1)} s); stopping it for the changes`,
      );
    }
    if (live) {
      // pre-dump while it runs, then frozen: the final dump, the changes of the layer, the images, the restore
      const src = {
        t: from.h.t,
        name: fromName,
        bundle: hostLayout(o.host.prefix).bundle(o.name),
        runtime: runtimeOf(from.h, o.host),
        runtimeRoot: hostLayout(o.host.prefix).runtimeRoot,
        id: o.name,
      };
      const there = { t: to.h.t, name: toName, bundle: dst };
      preDumps.push(...(await preDumpRounds(src, there, a.name, maxPreDumps)));
      imageBytes.pre = preDumps.reduce((n, r) => n + r.images, 0);
      info(`container ${a.name}: freezing it on ${fromName} for the final dump after ${preDumps.length} pre-dump round(s)`);
      stoppedAt = Date.now();
      await step("record on target", toName, () => move({ phase: "copying", wasRunning, stoppedAt, bytes: 0 }));
      // a failed dump leaves it running on the source (criu thaws it); after it, a failure restarts it there (its processes begin anew)
      await lap("final dump", () => step("final dump (criu)", fromName, () => checkpointOnSource(src, { final: true, rounds: preDumps.length })));
      stopped = true;
      bytes =
        precopyBytes +
        (await lap("copy of the changes", () =>
          step("copy of the writable layer", `${fromName} → ${toName}`, () => copyUpper(from, to, a, o.name, { kind: "changes", since: since! })),
        ));
      imageBytes.final = await lap("images", () => step("checkpoint images (final)", `${fromName} → ${toName}`, () => streamImages(src, there, "final")));
    } else if (before.props) {
      stoppedAt = prior?.stoppedAt ?? Date.now();
      stopped = wasRunning; // set before: a stop that failed half-way is undone by a start too
      // recorded before the stop: an interruption from here on is resumed, the source restarted on a failure
      await step("record on target", toName, () => move({ phase: "copying", wasRunning, stoppedAt, bytes: 0 }));
      await lap("stop", () => step("stop on source", fromName, () => stopForMove(olds)));
      const phase: ArchivePhase = since === undefined ? { kind: "whole" } : { kind: "changes", since };
      bytes =
        precopyBytes +
        (await lap(since === undefined ? "copy" : "copy of the changes", () =>
          step("copy of the writable layer", `${fromName} → ${toName}`, () => copyUpper(from, to, a, o.name, phase)),
        ));
    } else {
      warn(`container ${a.name}: not on ${fromName} (deleted behind kslice's back): created on ${toName} from its declaration, with no data to move`);
    }
    await step("record on target", toName, () => move({ phase: "copied", wasRunning, stoppedAt: stoppedAt || null, bytes }));
    let downtimeMs: number | null = null;
    if (a.state === "running") {
      const [what, name] = live ? ["restore", "restore on target (criu)"] : ["start", "start on target"];
      const started = await lap(what, () => step(name, toName, () => startForMove(news, live ? `${checkpointDir(dst)}/final` : undefined)));
      downtimeMs = stoppedAt ? Date.now() - stoppedAt : null;
      outs = await step(name, toName, started.outputs);
    } else outs = (await step("record on target", toName, () => applyDeclaration(created!, news))).outs;
    record = {
      from: fromName,
      to: toName,
      mode,
      downtimeMs,
      bytes,
      precopyBytes,
      templateBuilt,
      ...(live ? { imageBytes, preDumps } : {}),
      at: new Date().toISOString(),
    };
    await step("record on target", toName, () => move({ phase: "started", wasRunning, stoppedAt: stoppedAt || null, bytes, result: record }));
  } catch (e) {
    const undo: string[] = [];
    if (created) await deleteContainer(id, created).catch((u: Error) => undo.push(`removing it from ${toName} failed too: ${u.message}`));
    if (stopped)
      await applyDeclaration({ ...olds, state: "stopped" }, olds).catch((u: Error) => undo.push(`restarting it on ${fromName} failed too: ${u.message}`));
    forgetReads();
    const state = undo.length ? undo.join("; ") : `it is on ${fromName} as before${stopped ? " (restarted)" : ""}`;
    throw new Error(`container ${a.name}: migration from ${fromName} to ${toName} failed at ${(e as Error).message}; ${state}`, { cause: e });
  }
  const leftBehind = await removeSource(id, olds, o, toName, fromName);
  forgetReads();
  const phases = precopyBytes ? ` (${mib(precopyBytes)} while it ran, ${mib(bytes - precopyBytes)} while it was stopped)` : "";
  const rounds = preDumps.map((r) => readableSize(r.pages)).join(", ");
  const images = live
    ? `, checkpoint images ${mib(imageBytes.pre)} while it ran (${preDumps.length} pre-dump round(s), pages ${rounds}) and ${mib(imageBytes.final)} frozen`
    : "";
  info(
    `container ${a.name}: migrated from ${fromName} to ${toName} (${mode}): ${mib(bytes)} moved${phases}${images}${templateBuilt ? ", template built on the target first" : ""}, downtime ${record.downtimeMs === null ? "none (not started)" : `${record.downtimeMs} ms (${spent.join(", ")})`}`,
  );
  await pauseAt("migrated");
  return { outs: { ...outs, lastMigration: record, leftBehind } };
}
