import type { ContainerArgs } from "../../../schema/container";
import type { HostLayout } from "../../kernel/container/layout";
import type { ClaimsSnapshot } from "../../kernel/container/snapshot";
import { chooseRanges, claimRange, legacyBase, maxRangeIndex, rangeBase, rangeIndex } from "../../kernel/container/uid-ranges";
import type { Transport } from "../../transport/transport";

/**
 * The host uid of a user-namespaced container's root, as the host shows it now: its claim, or for a
 * bundle made before ranges were claimed (no claim yet), the hashed base it was made with.
 */
export function uidBaseOf(a: ContainerArgs, snap: Pick<ClaimsSnapshot, "ranges" | "bundles">): number | undefined {
  if (!a.security.userNamespace) return undefined;
  const claimed = snap.ranges.get(a.name);
  if (claimed !== undefined) return rangeBase(claimed);
  return snap.bundles.has(a.name) ? legacyBase(a.name) : undefined;
}

/**
 * Makes sure a user-namespaced container holds a range and returns its base. The choice is made
 * here from the snapshot's claims; the host's script takes it under the host-wide lock only if it
 * is still free, else answers with the claims of the moment and the choice is made again.
 */
export async function ensureRange(
  t: Pick<Transport, "run" | "target">,
  layout: HostLayout,
  a: ContainerArgs,
  snap: ClaimsSnapshot,
): Promise<number | undefined> {
  if (!a.security.userNamespace) return undefined;
  const held = snap.ranges.get(a.name);
  if (held !== undefined) return rangeBase(held);
  // a bundle without a claim was made with the hashed base: its upper layer belongs to that range
  const legacy = snap.bundles.has(a.name) ? rangeIndex(legacyBase(a.name)) : undefined;
  let taken = snap.takenRanges;
  for (let attempt = 0; attempt < 10; attempt++) {
    const candidates = legacy === undefined ? chooseRanges(taken) : [legacy];
    if (!candidates.length) throw new Error(`security.userNamespace: host ${t.target} has no user-namespace range left (${maxRangeIndex + 1} claimed)`);
    const r = await claimRange(t, layout, a.name, candidates);
    if ("index" in r) return rangeBase(r.index);
    if (legacy !== undefined) {
      throw new Error(
        `security.userNamespace: container ${a.name} was made with host uids ${legacyBase(a.name)}+ (a hashed range), which another container holds; delete and re-create it to get a range of its own`,
      );
    }
    taken = r.taken;
  }
  throw new Error(`security.userNamespace: could not claim a user-namespace range on host ${t.target} (other creates kept taking the chosen ones)`);
}
