import { withDetail } from "../diff-detail";
import { hostMoved } from "../host-identity";
import { ownerOf } from "../ownership";
import type { Inputs, State } from "../kind";
import type { DiffResult } from "../provider-types";
import { containsUnknown } from "../unknown";
import { context } from "./context";
import { diskReplaces } from "./disk";
import { parse, pickInputs, replaceKeys, type Ct } from "./inputs";
import { reachableLeftBehind } from "./left-behind";
import { announce, moveOf } from "./move-plan";
import { leftBehindOf } from "./move-records";
import { drifted } from "./observe";

/**
 * What an up changes: a move to another host (the container migrates: preview says how), a
 * replacement (what a running container cannot take), a changed declaration, or the kernel's drift
 * (the keys it contradicts are named in the engine's display); and left-behind copies whose host
 * answers again (removed by the update).
 */
export async function diff(_id: string, olds: State<Ct>, news: Inputs<Ct>): Promise<DiffResult> {
  if (containsUnknown(pickInputs(news))) return { changes: true };
  const move = containsUnknown(news) ? undefined : await moveOf(olds, news);
  if (move) {
    await announce(move.o, move.a, ownerOf(news));
    return { changes: true };
  }
  const r = await declaredOrDrifted(olds, news);
  if (r.changes || !leftBehindOf(olds).length || containsUnknown(news)) return r;
  return { changes: (await reachableLeftBehind(olds)).length > 0 };
}

async function declaredOrDrifted(olds: State<Ct>, news: Inputs<Ct>): Promise<DiffResult> {
  const o = parse(olds);
  const a = parse(news);
  const replaces: string[] = replaceKeys.filter((k) => JSON.stringify(o[k]) !== JSON.stringify(a[k]));
  if (await hostMoved(olds, o.host, a.host)) replaces.push("host");
  replaces.push(...diskReplaces(o, a));
  if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
  // `rolling` says how a change is made, not what runs
  if (JSON.stringify({ ...o, rolling: undefined }) !== JSON.stringify({ ...a, rolling: undefined })) return { changes: true };
  const keys = await drifted(await context(a, "diff"), a, olds.pid);
  return withDetail({ changes: keys.length > 0 }, keys);
}
