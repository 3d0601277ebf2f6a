import type { Inputs, State, Updated } from "../kind";
import type { Ct } from "./inputs";
import { applyDeclaration } from "./apply";
import { cleanLeftBehind } from "./left-behind";
import { migrate } from "./move";
import { moveOf } from "./move-plan";
import { carried } from "./move-records";
import { disrupting } from "./rolling";

/** A move migrates the container; otherwise the declaration is applied where it is, and copies left on hosts that answer again go. */
export async function update(id: string, olds: State<Ct>, news: Inputs<Ct>): Promise<Updated<Ct>> {
  const move = await moveOf(olds, news);
  if (move) return disrupting(news, () => migrate(id, olds, news, move.o, move.a));
  const r = await applyDeclaration(olds, news);
  const leftBehind = await cleanLeftBehind(id, { ...news, leftBehind: olds.leftBehind });
  return { outs: { ...r.outs, ...carried(olds), leftBehind } };
}
