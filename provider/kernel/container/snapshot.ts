import { shellQuote as q, type Transport } from "../../transport/transport";
import { SharedRead, idleMs } from "../shared-read";
import type { HostLayout } from "./layout";
import type { RuntimeState } from "./runtime";
import type { NetworkSpec } from "../network/bridge";
import { parseRangesSnapshot, rangesSnapshotScript } from "./uid-ranges";

/** Every kslice container on a host at one moment: the runtime's list and the bundles on disk. */
export interface ContainerSnapshot {
  states: Map<string, RuntimeState>;
  bundles: Set<string>;
  /** Log sizes in bytes, by container. */
  logSizes: Map<string, number>;
  /** The host's network records, by network name. */
  networks: Map<string, NetworkSpec>;
  /** Addresses held, by container, then network. */
  addresses: Map<string, Map<string, string>>;
  /** User-namespace range index claimed by each of the prefix's containers. */
  ranges: Map<string, number>;
  /** Range indexes claimed on the host by every prefix. */
  takenRanges: number[];
  /** Each bundle's kslice.json (owner, specHash, …) as written, by container. */
  records: Map<string, string>;
}

export function snapshotScript(runtime: string, layout: HostLayout): string {
  return [
    // runc makes its --root when listing: a read (a preview) must not leave /run/<prefix>/runtime behind
    `if [ -d ${q(layout.runtimeRoot)} ]; then ${runtime} --root ${q(layout.runtimeRoot)} list --format json 2>/dev/null || echo null; else echo null; fi`,
    `echo @@bundles`,
    // two processes whatever the number of containers (a basename and a stat each cost O(N) per read)
    `find ${q(layout.containers)} -mindepth 1 -maxdepth 1 -type d -printf '%f 0\\n' 2>/dev/null`,
    `find ${q(layout.containers)} -mindepth 2 -maxdepth 2 -name log -printf '%h %s\\n' 2>/dev/null | sed 's|^.*/||'`,
    // networks and the addresses containers hold: two greps whatever their number
    `echo @@networks`,
    `grep -H "" ${q(layout.networks)}/*/network.json 2>/dev/null`,
    `echo @@addresses`,
    `grep -r "" ${q(layout.networks)}/*/addresses 2>/dev/null`,
    // every bundle's record (its owner, for check): one grep whatever their number
    `echo @@records`,
    `grep -H "" ${q(layout.containers)}/*/kslice.json 2>/dev/null`,
    `echo @@uids`,
    rangesSnapshotScript(layout),
    `true`,
  ].join("; ");
}

export function parseSnapshot(out: string): ContainerSnapshot {
  const [beforeUids = "", uidPart = ""] = out.split("@@uids\n");
  const [beforeRecords = "", recordPart = ""] = beforeUids.split("@@records\n");
  const [head = "", addressPart = ""] = beforeRecords.split("@@addresses\n");
  // ".../<name>/kslice.json:<json>"
  const records = new Map<string, string>();
  for (const line of recordPart.split("\n").filter(Boolean)) {
    const m = /\/([^/]+)\/kslice\.json:(.*)$/.exec(line);
    if (m) records.set(m[1]!, m[2]!);
  }
  const [rest = "", networkPart = ""] = head.split("@@networks\n");
  const [list = "", bundles = ""] = rest.split("@@bundles\n");
  const networks = new Map<string, NetworkSpec>();
  for (const line of networkPart.split("\n").filter(Boolean)) {
    const spec = JSON.parse(line.slice(line.indexOf(":") + 1)) as NetworkSpec;
    networks.set(spec.name, spec);
  }
  // ".../networks/<net>/addresses/<ip>:<owner>"
  const addresses = new Map<string, Map<string, string>>();
  for (const line of addressPart.split("\n").filter(Boolean)) {
    const m = /\/([^/]+)\/addresses\/([\d.]+):(.+)$/.exec(line);
    if (!m) continue;
    const [, net, ip, owner] = m as unknown as [string, string, string, string];
    if (!addresses.has(owner)) addresses.set(owner, new Map());
    addresses.get(owner)!.set(net, ip);
  }
  const parsed = JSON.parse(list.trim() || "null") as RuntimeState[] | null;
  const states = new Map((parsed ?? []).map((s) => [s.id, { id: s.id, status: s.status, pid: s.pid, created: s.created }]));
  const names = new Set<string>();
  const logSizes = new Map<string, number>();
  for (const line of bundles.split("\n").filter(Boolean)) {
    const [n, size] = line.split(" ");
    names.add(n!);
    logSizes.set(n!, Math.max(logSizes.get(n!) ?? 0, Number(size) || 0));
  }
  return { states, bundles: names, logSizes, networks, addresses, records, ...parseRangesSnapshot(uidPart) };
}

/** One snapshot of a host's containers, shared by a burst of reads (see SharedRead). */
export class SnapshotCache extends SharedRead<ContainerSnapshot> {
  constructor(t: Pick<Transport, "run">, script: string, windowMs = idleMs) {
    super(t, script, parseSnapshot, windowMs);
  }
}

/** Reads of one snapshot's resources (containers, networks): how many asked, and the read made for all. */
export type PerResourceReads<All> = WeakMap<ContainerSnapshot, { asked: number; all?: Promise<All | undefined> }>;

/**
 * A read about one resource, shared by the burst it comes in. The first asker of a snapshot reads
 * its own resource (a create observes one), unless it says a burst is under way (a diff or a read:
 * a preview or refresh asks for every resource); any later asker of the same snapshot reads every
 * resource at once, in one command, and the rest of the burst picks its answer from that. A
 * resource the read for all left out, or a failed read for all, falls back to its own read.
 */
export async function perResource<V, All>(
  memo: PerResourceReads<All>,
  snap: ContainerSnapshot,
  one: () => Promise<V>,
  all: () => Promise<All>,
  pick: (all: All) => V | undefined,
  /** The caller knows a burst is under way (a diff or a read, never alone): no read of its own first. */
  burst = false,
): Promise<V> {
  let entry = memo.get(snap);
  if (!entry) memo.set(snap, (entry = { asked: 0 }));
  if (entry.asked++ === 0 && !burst) return one();
  entry.all ??= all().catch(() => undefined);
  const read = await entry.all;
  const found = read === undefined ? undefined : pick(read);
  return found !== undefined ? found : one();
}
