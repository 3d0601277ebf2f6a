import { lifecycle, type TypedLifecycle } from "../kind";
import { containerKind } from "../kinds";
import type { LifecycleImpl } from "../provider-types";
import { check } from "./check";
import { create } from "./create";
import { deleteContainer } from "./delete";
import { diff } from "./diff";
import { read } from "./read";
import { announceReplacement, creating, deleting } from "./rolling";
import { update } from "./update";

/**
 * The Container's lifecycle, one file per operation. A change of host is a move (move.ts), which
 * diff announces and update makes, through the same create, apply and delete.
 *
 *   check.ts      the declaration admitted on its host (admission.ts), a move's room and mode (move-plan.ts)
 *   diff.ts       move, replace, changed declaration, or the kernel's drift (observe.ts drifted)
 *   create.ts     one script makes it (allocate.ts, steps.ts); a bundle already there is taken over
 *   read.ts       the kernel's view in the user's terms
 *   update.ts     migrate (move.ts), or apply in place (apply.ts)
 *   delete.ts     everything it has on the host goes
 *   rolling.ts    at most `rolling.maxUnavailable` of a group down at once: a replacement's delete
 *                 and create share one permit; a restart and a move take one; diff names the
 *                 replacements that wait
 */
const typed: TypedLifecycle<typeof containerKind> = {
  check,
  diff: async (id, olds, news) => announceReplacement(news, await diff(id, olds, news)),
  create: (inputs) => creating(inputs, () => create(inputs)),
  read,
  update,
  delete: (id, props) => deleting(props, () => deleteContainer(id, props)),
};

export const containerLifecycle: LifecycleImpl = lifecycle(containerKind, typed);

export { declaration, replaceKeys, withHostDefaults } from "./inputs";
export { removeContainer } from "./steps";
export { chooseMode, liveUnsupported } from "./move-plan";
export type { LeftBehind, MigrationRecord } from "./move-records";
