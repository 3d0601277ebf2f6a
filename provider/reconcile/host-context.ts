import type { Connection } from "../../schema/connection";
import { CgroupDriver } from "../kernel/cgroup/driver";
import type { HostFacts } from "../kernel/host-facts";
import { openTransport } from "../kernel/connection";
import type { Transport } from "../transport/transport";
import { machineFacts } from "./host-reads";
import { HostView, type EngineCall } from "./host-view";

export { forgetReads } from "./host-reads";
export type { EngineCall } from "./host-view";

export interface HostContext {
  t: Transport;
  facts: HostFacts;
  cgroups: CgroupDriver;
  /** Every read of this host and prefix, shared with the other calls (host-view.ts). */
  view: HostView;
}

/**
 * The host as one engine call reaches and reads it. `call` is what makes a read of one resource
 * part of a burst (host-view.ts); a caller that reads no single resource's state may leave it out.
 */
export async function hostContext(host: { connection: Connection; prefix: string }, call?: EngineCall): Promise<HostContext> {
  const t = openTransport(host.connection);
  const facts = await machineFacts(t, host.connection);
  const view = new HostView(t, facts, host, call);
  const cgroups = new CgroupDriver(t, facts, host.prefix, view.tree);
  view.tree = cgroups.tree;
  return { t, facts, cgroups, view };
}
