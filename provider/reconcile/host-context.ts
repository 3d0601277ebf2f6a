import type { Connection } from "../../schema/connection";
import { CgroupDriver } from "../kernel/cgroup/driver";
import type { TreeCache } from "../kernel/cgroup/tree";
import { readHostFacts, type HostFacts } from "../kernel/host-facts";
import { connectionKey, openTransport } from "../kernel/connection";
import type { Transport } from "../transport/transport";

export interface HostContext {
  t: Transport;
  facts: HostFacts;
  cgroups: CgroupDriver;
}

// Facts do not change during one engine run: read them once per host per provider process.
const facts = new Map<string, Promise<HostFacts>>();
// One cgroup tree read per host and prefix, shared by the resources whose reads come together.
const trees = new Map<string, TreeCache>();

// Other shared reads (the container snapshots) register here so that forgetReads reaches them.
const others = new Set<{ invalidate(): void }>();

export function registerSharedRead(r: { invalidate(): void }): void {
  others.add(r);
}

/** Forgets every shared read, so that the next read sees changes made outside this process. */
export function forgetReads(): void {
  for (const t of [...trees.values(), ...others]) t.invalidate();
}

export async function hostContext(host: { connection: Connection; prefix: string }): Promise<HostContext> {
  const t = openTransport(host.connection);
  const key = connectionKey(host.connection);
  let f = facts.get(key);
  if (!f) {
    f = readHostFacts(t);
    facts.set(key, f);
    f.catch(() => facts.delete(key));
  }
  const resolved = await f;
  const treeKey = `${key}/${host.prefix}`;
  const cgroups = new CgroupDriver(t, resolved, host.prefix, trees.get(treeKey));
  trees.set(treeKey, cgroups.tree);
  return { t, facts: resolved, cgroups };
}
