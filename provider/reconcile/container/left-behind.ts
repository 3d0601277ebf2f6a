import { connectionKey } from "../../kernel/connection";
import { readBundleRecord } from "../../kernel/container/bundle-state";
import { hostLayout } from "../../kernel/container/layout";
import { forgetReads, hostContext } from "../host-context";
import { ownerOf, recordedOwner } from "../ownership";
import type { State } from "../kind";
import type { Ct } from "./inputs";
import { deleteContainer } from "./delete";
import { quick, reach } from "./move-plan";
import { leftBehindOf, type LeftBehind } from "./move-records";
import { info, warn } from "../../log";

/** Left-behind copies whose host answers again (short connect timeout: a lost host stays cheap). */
export async function reachableLeftBehind(props: Pick<State<Ct>, "leftBehind">): Promise<LeftBehind[]> {
  const all = leftBehindOf(props);
  const answers = await Promise.all(all.map(async (l) => ("h" in (await reach({ connection: l.connection, prefix: l.prefix }, true)) ? l : undefined)));
  return answers.filter((l): l is LeftBehind => l !== undefined);
}

/**
 * Removes the copies left on hosts that answer again: only a container this resource made (its
 * kslice.json names this resource's URN as owner); one of another owner is left alone and
 * forgotten. Returns the records still waiting for their host.
 */
export async function cleanLeftBehind(id: string, props: State<Ct>): Promise<LeftBehind[]> {
  const all = leftBehindOf(props);
  if (!all.length) return all;
  const back = await reachableLeftBehind(props);
  for (const l of back) {
    const host = { connection: quick(l.connection), prefix: l.prefix };
    const h = await hostContext(host);
    const meta = await readBundleRecord(h.t, hostLayout(l.prefix).bundle(l.name));
    const holder = recordedOwner(meta);
    if (meta !== undefined && holder !== ownerOf(props)) {
      warn(`container ${l.name} left on ${connectionKey(l.connection)} belongs to ${holder ?? "no one"}, not to this resource: left in place`);
      continue;
    }
    if (meta !== undefined) {
      await deleteContainer(id, { ...props, host: host, name: l.name, leftBehind: undefined });
      info(`container ${l.name}: the copy left on ${connectionKey(l.connection)} when it was lost is removed`);
    }
  }
  forgetReads();
  return all.filter((l) => !back.includes(l));
}
