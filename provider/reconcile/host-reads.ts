import type { Connection } from "../../schema/connection";
import type { TreeCache } from "../kernel/cgroup/tree";
import { connectionKey } from "../kernel/connection";
import type { PortsInUse } from "../kernel/container/admission";
import type { ClaimsSnapshot, PerResourceReads, SnapshotCache } from "../kernel/container/snapshot";
import { readHostFacts, type HostFacts } from "../kernel/host-facts";
import type { HostNetView } from "../kernel/network/probe-all";
import type { BudgetRecords } from "../kernel/owners";
import type { Transport } from "../transport/transport";

/*
 * The registry of every memoised read of the hosts this provider process reaches: one Machine per
 * connection, one Reads per connection and prefix. Reconcile reads through HostView (host-view.ts);
 * hostContext takes the facts from here, and forgetReads drops every read.
 */

/** What this process holds of one machine (one connection), whatever the prefix. */
export interface Machine {
  facts?: Promise<HostFacts>;
  /** Addresses and uid ranges (the machine's, whatever the prefix) chosen by creates under way, not yet claimed: parallel creates choose apart. */
  picked: Map<string, Set<string>>;
  /** This process's network creates on the machine, one at a time (see HostView.createNetwork). */
  networkCreates?: Promise<unknown>;
}

/** Every memoised read of one host and prefix, shared by every call's view, dropped by every change kslice makes. */
export class Reads {
  tree?: TreeCache;
  snapshots?: SnapshotCache;
  budgets?: BudgetRecords;
  // one epoch's read of every resource (see perResource): live inits, container networks, networks
  readonly inits: PerResourceReads<Map<string, (string | undefined)[]>> = new WeakMap();
  readonly netViews: PerResourceReads<HostNetView> = new WeakMap();
  readonly networkProbes: PerResourceReads<Map<string, string>> = new WeakMap();
  // once per host read (a snapshot or the one it amends): what checks and creates read beside it
  readonly resolvConfs = new WeakMap<object, Promise<string>>();
  readonly ports = new WeakMap<ClaimsSnapshot, Promise<PortsInUse>>();
  readonly networkLines = new WeakMap<ClaimsSnapshot, Promise<string>>();

  constructor(readonly machine: Machine) {}

  invalidate(): void {
    this.tree?.invalidate();
    this.snapshots?.invalidate();
    this.budgets?.invalidate();
  }
}

// The registry: one Machine per connection, one Reads per connection and prefix, for the provider
// process (the engine runs one per deployment and calls it for every resource).
const machines = new Map<string, Machine>();
const reads = new Map<string, Reads>();

function machineOf(connection: Connection): Machine {
  const key = connectionKey(connection);
  let m = machines.get(key);
  if (!m) machines.set(key, (m = { picked: new Map() }));
  return m;
}

export function readsOf(connection: Connection, prefix: string): Reads {
  const key = `${connectionKey(connection)}/${prefix}`;
  let r = reads.get(key);
  if (!r) reads.set(key, (r = new Reads(machineOf(connection))));
  return r;
}

/** The machine's facts: they do not change during one engine run, so they are read once per connection. */
export function machineFacts(t: Transport, connection: Connection): Promise<HostFacts> {
  const m = machineOf(connection);
  if (!m.facts) {
    const f = readHostFacts(t);
    m.facts = f;
    f.catch(() => {
      if (m.facts === f) m.facts = undefined;
    });
  }
  return m.facts;
}

/** Forgets every host's reads, so that the next read sees changes made outside this process. */
export function forgetReads(): void {
  for (const r of reads.values()) r.invalidate();
}

/** Memoises a read by a key object (a snapshot), dropping it when it fails. */
export function once<K extends object, V>(memo: WeakMap<K, Promise<V>>, key: K, read: () => Promise<V>): Promise<V> {
  let r = memo.get(key);
  if (!r) {
    r = read();
    memo.set(key, r);
    r.catch(() => memo.delete(key));
  }
  return r;
}
