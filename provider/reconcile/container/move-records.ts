import type { Connection } from "../../../schema/connection";
import type { ContainerArgs } from "../../../schema/container";
import { connectionKey } from "../../kernel/connection";
import { hostLayout } from "../../kernel/container/layout";
import { readMoveRecord } from "../../kernel/container/migrate";
import { hostContext, type HostContext } from "../host-context";
import { recordedOwner } from "../ownership";
import type { ContainerOutputs } from "../kinds";

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
  /** Live: bytes of checkpoint images moved (the pre-dump's while it ran, the final dump's while it was frozen). */
  imageBytes?: { pre: number; final: number };
  /** Live: each pre-dump round's bytes of pages and of images moved, in order (another round ran while the pages shrank). */
  preDumps?: { pages: number; images: number }[];
  at: string;
}

/**
 * How far a migration got, as recorded on the target (migration.json). `copying`: the source was
 * (being) stopped and the copy is not known complete; `copied`: the writable layer is on the
 * target; `started`: the target holds the container as declared (running or not) and `result` is
 * the migration's record: only the source's removal may be missing.
 */
export interface Move {
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

export const sourceOf = (o: ContainerArgs): Move["source"] => ({ connection: connectionKey(o.host.connection), prefix: o.host.prefix, name: o.name });

/**
 * The record an interrupted migration of this resource from this source left on the target, or
 * undefined: none, another source's, or a target container of another owner (create refuses that).
 */
export async function interrupted(h: HostContext, o: ContainerArgs, a: ContainerArgs, owner: string | undefined): Promise<Move | undefined> {
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
export async function migratedHere(a: ContainerArgs, owner: string | undefined): Promise<MigrationRecord | null> {
  const { meta, record } = await readMoveRecord((await hostContext(a.host)).t, hostLayout(a.host.prefix).bundle(a.name));
  const m = record as Partial<Move> | undefined;
  return meta !== undefined && recordedOwner(meta) === owner && m?.phase === "started" && m.result ? m.result : null;
}

export function leftBehindOf(props: { leftBehind?: LeftBehind[] | null }): LeftBehind[] {
  return Array.isArray(props.leftBehind) ? props.leftBehind : [];
}

/** Migration outputs kept across updates and refreshes. */
export function carried(olds: Partial<Pick<ContainerOutputs, "lastMigration" | "leftBehind">>): Pick<ContainerOutputs, "lastMigration" | "leftBehind"> {
  return { lastMigration: olds.lastMigration ?? null, leftBehind: leftBehindOf(olds) };
}
