import type { Connection } from "../../schema/connection";
import type { HostFacts } from "../kernel/host-facts";
import { connectionKey } from "../kernel/connection";
import { hostContext } from "./host-context";

/**
 * Which machine a resource lives on, recorded in its outputs as `machineId`: the host's
 * /etc/machine-id, or (a host without one) its connection, the only identity it has.
 */
export function machineIdentity(facts: Pick<HostFacts, "machineId">, connection: Connection): string {
  return facts.machineId || `connection ${connectionKey(connection)}`;
}

/**
 * Does a change of `host` move the resource to another machine or namespace (replace), or only
 * change how kslice reaches the same machine (in place)? A host is a machine, not an address: a
 * new address, port, user or transport of the machine whose identity the old outputs recorded is
 * an update; another machine at any address, or another prefix, replaces. Outputs written before
 * identities were recorded fall back to comparing connections (the next update records it).
 */
export async function hostMoved(
  olds: { machineId?: unknown },
  from: { connection: Connection; prefix: string },
  to: { connection: Connection; prefix: string },
): Promise<boolean> {
  if (from.prefix !== to.prefix) return true;
  const recorded = typeof olds.machineId === "string" && olds.machineId ? olds.machineId : undefined;
  if (!recorded) return connectionKey(from.connection) !== connectionKey(to.connection) || from.connection.type !== to.connection.type;
  const { facts } = await hostContext(to);
  return machineIdentity(facts, to.connection) !== recorded;
}

/** Did the way kslice reaches the host change (an in-place update that must reach the state)? */
export function connectionChanged(from: { connection: Connection }, to: { connection: Connection }): boolean {
  return JSON.stringify(from.connection) !== JSON.stringify(to.connection);
}
