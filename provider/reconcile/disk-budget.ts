import type { Connection } from "../../schema/connection";
import type { InputFailure } from "../../schema/issues";
import { formatSize, readableSize, size } from "../../schema/units";
import { connectionKey } from "../kernel/connection";
import { declaredTogether } from "./ownership";
import { containsUnknown } from "./unknown";

/**
 * A ResourceLimits' disk budget (its `disk.max`): the `disk.max` its children declare, containers
 * and nested budgets, must fit within it together. Like the other limits of a parent it is known
 * at preview from the declaration (the parent passes its declared budget along, `parentDisk`), or
 * from its record on the host when the parent is named by path; the children are the ones this
 * program declares (the engine checks all of a program's resources in one provider process, so each
 * child's check sees the others checked before it, and the last one sees them all).
 */

/** How a size is shown in a refusal: the user's notation when exact in its own unit ("10Gi"), else rounded with the bytes. */
export function showSize(n: number): string {
  const m = /^(\d+)([KMGT]i)$/.exec(formatSize(n));
  return m && (Number(m[1]) < 1024 || m[2] === "Ti") ? formatSize(n) : `${readableSize(n)} (${n} bytes)`;
}

/** A parent's declared disk budget as its ResourceLimits passed it: bytes, or undefined (none, unknown, invalid). */
export function declaredParentDisk(v: unknown): number | undefined {
  if (v === undefined || v === null || containsUnknown(v)) return undefined;
  const r = size.safeParse((v as { max?: unknown }).max);
  return r.success ? r.data : undefined;
}

/** The disk budget a budget's record on the host holds (written by its create and update), if any. */
export function recordedDisk(record: string | undefined): number | undefined {
  if (!record) return undefined;
  try {
    const d = (JSON.parse(record) as { disk?: unknown }).disk;
    return typeof d === "number" && d > 0 ? d : undefined;
  } catch {
    return undefined;
  }
}

export interface BudgetChild {
  /** "container web" or "ResourceLimits tenant-a/team-1" */
  label: string;
  /** Its declared disk.max; undefined when it declares none. */
  bytes: number | undefined;
}

/**
 * Why `me` does not fit in the budget of `parent` (`budget` bytes) with the other children declared
 * together with it (`together`, `me` included): it declares no disk at all, or the sum is above.
 */
export function budgetShortfall(parent: string, budget: number, me: BudgetChild, together: BudgetChild[]): InputFailure[] {
  const of = `the disk budget of ${parent} (disk.max ${showSize(budget)})`;
  if (me.bytes === undefined) {
    return [
      {
        property: "disk",
        reason: `${me.label} declares no disk.max, but it is placed under ${of}: a child without a limit could fill the host past the budget; declare disk.max`,
      },
    ];
  }
  const sum = together.reduce((s, c) => s + (c.bytes ?? 0), 0);
  if (sum <= budget) return [];
  const list = together.map((c) => `${c.label} ${c.bytes === undefined ? "none" : showSize(c.bytes)}`).join(", ");
  return [
    {
      property: "disk.max",
      reason: `got ${showSize(me.bytes)}; the children of ${parent} declared in this program need ${showSize(sum)} together (${list}), above ${of} by ${showSize(sum - budget)}`,
    },
  ];
}

/**
 * Admission of one child (a container or a nested ResourceLimits) against its parent's disk budget:
 * records its declared disk.max among the parent's children in this program, then checks them all.
 * `key` identifies the child across re-checks (its URN, else its label).
 */
export function diskBudgetAdmission(
  host: { connection: Connection; prefix: string },
  parent: string | undefined,
  budget: number | undefined,
  me: BudgetChild & { key: string },
): InputFailure[] {
  if (!parent || budget === undefined) return [];
  const scope = `disk budget ${connectionKey(host.connection)}/${host.prefix}/${parent}`;
  const together = [...declaredTogether(scope, me.key, JSON.stringify({ label: me.label, bytes: me.bytes })).values()].map((v) => JSON.parse(v) as BudgetChild);
  return budgetShortfall(parent, budget, me, together);
}
