import type { ContainerArgs } from "../../../schema/container";
import { readableSize } from "../../../schema/units";
import { hostLayout } from "../../kernel/container/layout";
import { writeMoveRecord } from "../../kernel/container/migrate";
import { checkpointOnSource, streamImages, type LiveEnd, type MoveEnd } from "../../kernel/container/move";
import { StepError } from "../../kernel/transaction";
import { forgetReads, type HostContext } from "../host-context";
import type { Inputs, State, Updated } from "../kind";
import type { Ct } from "./inputs";
import { createContainer } from "./create";
import { deleteContainer } from "./delete";
import { where } from "./move-plan";
import { leftBehindOf, type LeftBehind, type MigrationRecord, type Move } from "./move-records";
import { readContainer } from "./read";
import { info, warn } from "../../log";

// How a move ends besides its own copy (move.ts): the source's removal, a move taken over after an
// interruption, a source that cannot be reached.

/** Runs a step of a move, its failure named with the step and the host (unless it names one already). */
export async function step<T>(name: string, host: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof StepError && e.host !== undefined ? e : StepError.on(name, host, e);
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * A live move's pre-dump rounds while the container runs, each round's images streamed to the
 * target as it ends: each holds the pages written during the one before, and another runs while
 * they shrink (`max` rounds at most), so the frozen dump holds as little as its writes allow.
 * Returns each round's bytes of pages and of images.
 */
export async function preDumpRounds(src: LiveEnd, there: MoveEnd, container: string, max: number): Promise<{ pages: number; images: number }[]> {
  const rounds: { pages: number; images: number }[] = [];
  for (let round = 1; round <= max; round++) {
    const t0 = Date.now();
    const pages = await step(`pre-dump ${round} (criu)`, src.name, () => checkpointOnSource(src, { round }));
    const dumped = Date.now();
    const images = await step(`checkpoint images (pre-dump ${round})`, `${src.name} → ${there.name}`, () => streamImages(src, there, `pre${round}`));
    rounds.push({ pages, images });
    info(
      `container ${container}: pre-dump ${round} on ${src.name} while it ran (${secs(dumped - t0)}): ${readableSize(pages)} of pages, ${mib(images)} of images to ${there.name} (${secs(Date.now() - dumped)})`,
    );
    const before = rounds[round - 2];
    if (pages === 0 || (before && pages >= before.pages)) break;
  }
  return rounds;
}

export const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * The last step of a move: the container goes from the source. When that fails, it runs on the
 * target already: the copy on the source goes at a later up, when that host answers (leftBehind).
 */
export async function removeSource(id: string, olds: State<Ct>, o: ContainerArgs, toName: string, fromName: string): Promise<LeftBehind[]> {
  try {
    await deleteContainer(id, olds);
    return leftBehindOf(olds);
  } catch (e) {
    warn(`container ${o.name}: migrated to ${toName}, but removing it from ${fromName} failed (${(e as Error).message}); the next up removes it`);
    return [
      ...leftBehindOf(olds),
      { connection: o.host.connection, prefix: o.host.prefix, machineId: typeof olds.machineId === "string" ? olds.machineId : null, name: o.name },
    ];
  }
}

/**
 * An interrupted migration whose data had reached the target (its record says copied or started):
 * the container there is this resource's, taken over as it is (create adopts it: a running init
 * keeps its pid; one the interruption left unstarted is started now), the source removed if it is
 * still there, and the migration's own record kept as lastMigration.
 */
export async function takeOver(
  id: string,
  olds: State<Ct>,
  news: Inputs<Ct>,
  o: ContainerArgs,
  a: ContainerArgs,
  prior: Move,
  h: HostContext,
): Promise<Updated<Ct>> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  info(`container ${a.name}: the migration from ${fromName} to ${toName} was interrupted after its data moved: taken over on ${toName} as it is`);
  const outs = (await step("take over on target", toName, () => createContainer(news))).outs;
  let record = prior.result;
  if (!record) {
    const downtimeMs = a.state === "running" && prior.stoppedAt ? Date.now() - prior.stoppedAt : null;
    record = {
      from: fromName,
      to: toName,
      mode: "cold",
      downtimeMs,
      bytes: prior.bytes,
      precopyBytes: 0,
      templateBuilt: prior.templateBuilt,
      at: new Date().toISOString(),
    };
    await step("record on target", toName, () =>
      writeMoveRecord(h.t, hostLayout(a.host.prefix).bundle(a.name), { ...prior, phase: "started", result: record }),
    );
  }
  const leftBehind = (await readContainer(id, olds)).props ? await removeSource(id, olds, o, toName, fromName) : leftBehindOf(olds);
  forgetReads();
  info(
    `container ${a.name}: migrated from ${fromName} to ${toName} (${record.mode}): ${mib(record.bytes)} moved, downtime ${record.downtimeMs === null ? "none (not started)" : `${record.downtimeMs} ms`}`,
  );
  return { outs: { ...outs, lastMigration: record, leftBehind } };
}

/** The source cannot be reached: fail naming it, or (onSourceLost: "recreate") create afresh on the target. */
export async function sourceLost(olds: State<Ct>, news: Inputs<Ct>, o: ContainerArgs, a: ContainerArgs, why: string): Promise<Updated<Ct>> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  if (a.onSourceLost === "fail") {
    throw new Error(
      `container ${a.name}: cannot migrate from host ${fromName}, which cannot be reached (${why}); set onSourceLost: "recreate" to create it afresh on ${toName} without its data`,
    );
  }
  warn(
    `container ${a.name}: host ${fromName} cannot be reached (${why}): re-created EMPTY on ${toName}; its data on ${fromName} is lost to it (removed when that host answers again)`,
  );
  const created = (await createContainer(news)).outs;
  forgetReads();
  const leftBehind = [
    ...leftBehindOf(olds),
    { connection: o.host.connection, prefix: o.host.prefix, machineId: typeof olds.machineId === "string" ? olds.machineId : null, name: o.name },
  ];
  const record: MigrationRecord = {
    from: fromName,
    to: toName,
    mode: "recreate",
    downtimeMs: null,
    bytes: 0,
    precopyBytes: 0,
    templateBuilt: false,
    at: new Date().toISOString(),
  };
  return { outs: { ...created, lastMigration: record, leftBehind } };
}
