import { readBundleRecord } from "../../kernel/container/bundle-state";
import { ownerOf, recordedOwner } from "../ownership";
import type { State } from "../kind";
import { context } from "./context";
import { parse, type Ct } from "./inputs";
import { removeContainer } from "./steps";
import { warn } from "../../log";

/** Removes the container and everything it has on its host; one of another owner now (adopted) stays. */
export async function deleteContainer(_id: string, props: State<Ct>): Promise<void> {
  const a = parse(props);
  const c = await context(a, "delete");
  // taken over by another owner (adopt: true): it is theirs now, and stays
  const holder = recordedOwner(await readBundleRecord(c.t, c.bundle));
  if (holder && holder !== ownerOf(props)) {
    warn(`${c.t.target}: container ${a.name} under prefix ${a.host.prefix} now belongs to ${holder}; left in place`);
    c.snapshots.invalidate();
    return;
  }
  await removeContainer(c.h, c.runtime, c.prefix, a.name, c.path, a.stopGraceSeconds * 1000);
  c.snapshots.invalidate();
}
