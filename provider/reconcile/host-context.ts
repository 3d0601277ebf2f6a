import type { Connection } from "../../schema/connection";
import { CgroupDriver } from "../kernel/cgroup/driver";
import { readHostFacts, type HostFacts } from "../kernel/host-facts";
import { connectionKey, openTransport } from "../transport/open";
import type { Transport } from "../transport/transport";

export interface HostContext {
  t: Transport;
  facts: HostFacts;
  cgroups: CgroupDriver;
}

// Facts do not change during one engine run: read them once per host per provider process.
const facts = new Map<string, Promise<HostFacts>>();

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
  return { t, facts: resolved, cgroups: new CgroupDriver(t, resolved, host.prefix) };
}
