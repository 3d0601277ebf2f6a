import { declaredParentLimits, parentDiskBudget } from "../limits";
import { ownerOf } from "../ownership";
import type { State, TypedCheck, Unchecked } from "../kind";
import { containsUnknown } from "../unknown";
import { unreachableAtCheck } from "../unreachable";
import { diskBudgetAdmission } from "../disk-budget";
import { admission } from "./admission";
import { backupAdmission } from "./backup";
import { context } from "./context";
import { parseDeclared, pickInputs, withHostDefaults, type Ct } from "./inputs";
import { liveAdmission, roomAdmission } from "./move-plan";
import { noteBound } from "./rolling";

/**
 * The declaration, admitted on its host before anything is made: a move's room on its target
 * first, then the inputs, the host's facts, owners, budgets and disk, then whether a live move can be had.
 */
export async function check(olds: Partial<State<Ct>>, news: Unchecked<Ct>): Promise<TypedCheck<Ct>> {
  const room = await roomAdmission(olds, news);
  if (room.length) return { failures: room };
  const r = await admitted(olds, news);
  if (r.failures?.length || !r.inputs || containsUnknown(r.inputs)) return r;
  noteBound(r.inputs);
  const failures = await liveAdmission(olds, r.inputs);
  return failures.length ? { failures } : r;
}

async function admitted(olds: Partial<State<Ct>>, news: Unchecked<Ct>): Promise<TypedCheck<Ct>> {
  let inputs = withHostDefaults(olds, pickInputs(news), news.hostDefaults);
  if (containsUnknown(inputs)) return { inputs };
  const r = parseDeclared(inputs);
  if (!r.ok) return { failures: r.failures };
  try {
    const c = await context(r.value, "check");
    // a backup is read (and its sums checked) first: what its layer lies on is what the rest admits
    const backup = await backupAdmission(c.t, r.value.rootfs, olds.rootfs);
    if (backup.failures.length) return { failures: backup.failures };
    if (backup.rootfs) inputs = { ...inputs, rootfs: backup.rootfs };
    const declared = backup.rootfs ? { ...r.value, rootfs: backup.rootfs } : r.value;
    const failures = await admission(
      declared,
      c,
      typeof olds.name === "string" ? olds.name : undefined,
      ownerOf(inputs),
      declaredParentLimits(news.parentLimits),
    );
    const label = `container ${r.value.name}`;
    const budget = await parentDiskBudget(r.value, c.h, news.parentDisk);
    failures.push(...diskBudgetAdmission(r.value.host, r.value.parent, budget, { key: ownerOf(inputs) ?? label, label, bytes: r.value.disk?.max }));
    if (failures.length) return { failures };
  } catch (e) {
    const failures = unreachableAtCheck(e);
    if (failures.length) return { failures };
  }
  return { inputs: { ...inputs, host: r.value.host } };
}
