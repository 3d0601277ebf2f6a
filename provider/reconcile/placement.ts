import { formatSize } from "../../schema/units";

/**
 * Placement of N identical replicas across a pool of hosts: pure, so that every rule (capacity,
 * spread, stability, drain) is unit-tested without a host. The Placement resource feeds it the
 * hosts' facts and what else is declared on them, and stores its answer.
 */

/** One host of the pool as the placement sees it. */
export interface PoolHost {
  /** The pool entry's key (the Host's name): what assignments name. */
  key: string;
  /** Its replicas move to the other hosts. */
  draining: boolean;
  /** Why the host did not answer (probe error); undefined when it did. */
  unreachable?: string;
  memoryBytes: number;
  /** In millicores (1000 per CPU): integers, so that sums of 0.1 cores stay exact. */
  cpuMillis: number;
  /** Declared on the host by others (cgroups outside this set): memory.max, or memory.low without a max. */
  usedMemoryBytes: number;
  usedCpuMillis: number;
}

/** What one replica reserves: its declared memory.max (or memory.low) and cpu.max. 0 = nothing declared. */
export interface Demand {
  memoryBytes: number;
  cpuMillis: number;
}

export interface Assignment {
  host: string;
  reason: string;
}

export type PlacementResult =
  | { ok: true; assignments: Record<string, Assignment>; warnings: string[] }
  | { ok: false; reason: string };

/** How many replicas fit on the host beside what others declared there (at most `limit`). */
export function roomFor(host: PoolHost, demand: Demand, limit: number): number {
  const fit = (total: number, used: number, each: number) => (each <= 0 ? limit : Math.max(0, Math.floor((total - used) / each)));
  return Math.min(limit, fit(host.memoryBytes, host.usedMemoryBytes, demand.memoryBytes), fit(host.cpuMillis, host.usedCpuMillis, demand.cpuMillis));
}

const cores = (millis: number) => `${millis / 1000} cores`;

function roomText(host: PoolHost, demand: Demand, room: number): string {
  if (host.unreachable) return `${host.key}: unreachable (${host.unreachable})`;
  if (host.draining) return `${host.key}: draining`;
  const parts: string[] = [];
  if (demand.memoryBytes > 0) parts.push(`memory ${formatSize(Math.max(0, host.memoryBytes - host.usedMemoryBytes))} free of ${formatSize(host.memoryBytes)}`);
  if (demand.cpuMillis > 0) parts.push(`cpu ${cores(Math.max(0, host.cpuMillis - host.usedCpuMillis))} free of ${cores(host.cpuMillis)}`);
  return `${host.key}: room for ${room}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

function demandText(demand: Demand): string {
  const parts = [...(demand.memoryBytes > 0 ? [`memory ${formatSize(demand.memoryBytes)}`] : []), ...(demand.cpuMillis > 0 ? [`cpu ${cores(demand.cpuMillis)}`] : [])];
  return parts.length ? parts.join(", ") : "nothing declared";
}

/**
 * Assigns each replica a host.
 * - Eligible hosts: reachable and not draining. A replica needs `demand` free on its host.
 * - Spread: the counts per host are balanced (water-filling: each next replica goes to the eligible
 *   host with the fewest that still has room), so two replicas share a kernel only when no other
 *   eligible host has room: one kernel is one failure domain.
 * - Stable: a replica stays on its previous host while that host is eligible, has room, and is not
 *   above its balanced share; where the balance leaves a choice, hosts that already hold replicas
 *   keep them. The same inputs give the same answer, so an `up` with no change moves nothing.
 * - Not enough room in the pool: refused, naming each host's room and the shortfall.
 */
export function place(replicas: readonly string[], hosts: readonly PoolHost[], demand: Demand, previous: Readonly<Record<string, { host: string; reason?: string } | undefined>>): PlacementResult {
  const n = replicas.length;
  const keys = new Set(hosts.map((h) => h.key));
  const dup = hosts.find((h, i) => hosts.findIndex((o) => o.key === h.key) !== i);
  if (dup) return { ok: false, reason: `host ${dup.key} is in the pool twice` };
  const eligible = hosts.filter((h) => !h.unreachable && !h.draining);
  const room = new Map(hosts.map((h) => [h.key, eligible.includes(h) ? roomFor(h, demand, n) : 0]));
  const total = [...room.values()].reduce((a, b) => a + b, 0);
  if (total < n) {
    const short = n - total;
    const need = [...(demand.memoryBytes > 0 ? [`memory ${formatSize(short * demand.memoryBytes)}`] : []), ...(demand.cpuMillis > 0 ? [`cpu ${cores(short * demand.cpuMillis)}`] : [])];
    return {
      ok: false,
      reason:
        `${n} replica(s) of ${demandText(demand)} each do not fit: the pool has room for ${total}, short by ${short}` +
        `${need.length ? ` (${need.join(", ")})` : ""}; ${hosts.map((h) => roomText(h, demand, room.get(h.key) ?? 0)).join("; ")}`,
    };
  }

  // Replicas that could stay where they are (host eligible), by host, in the replicas' order.
  const stayers = new Map<string, string[]>(eligible.map((h) => [h.key, []]));
  for (const r of replicas) {
    const prev = previous[r]?.host;
    if (prev !== undefined && stayers.has(prev)) stayers.get(prev)!.push(r);
  }

  // Balanced shares by water-filling; ties go to hosts with more stayers, then to pool order.
  const share = new Map(eligible.map((h) => [h.key, 0]));
  const order = eligible.map((h, i) => ({ key: h.key, i }));
  for (let placed = 0; placed < n; placed++) {
    const next = order
      .filter((h) => share.get(h.key)! < room.get(h.key)!)
      .sort((a, b) => share.get(a.key)! - share.get(b.key)! || stayers.get(b.key)!.length - stayers.get(a.key)!.length || a.i - b.i)[0]!;
    share.set(next.key, share.get(next.key)! + 1);
  }

  const assignments: Record<string, Assignment> = {};
  const warnings: string[] = [];
  const count = new Map(eligible.map((h) => [h.key, 0]));
  for (const h of eligible) {
    for (const r of stayers.get(h.key)!.slice(0, share.get(h.key)!)) {
      // the reason it came here stays: the answer for unchanged inputs is the stored one, word for word
      assignments[r] = { host: h.key, reason: previous[r]?.reason ?? `kept on ${h.key}` };
      count.set(h.key, count.get(h.key)! + 1);
    }
  }
  for (const r of replicas) {
    if (assignments[r]) continue;
    const target = eligible.find((h) => count.get(h.key)! < share.get(h.key)!)!;
    count.set(target.key, count.get(target.key)! + 1);
    const prevKey = previous[r]?.host;
    const prev = hosts.find((h) => h.key === prevKey);
    const peers = `now ${count.get(target.key)} there`;
    let reason: string;
    if (prevKey === undefined) reason = `placed on ${target.key} (${peers}; spread over ${eligible.length} eligible host(s))`;
    else if (!prev || !keys.has(prevKey)) reason = `moved from ${prevKey} to ${target.key}: ${prevKey} left the pool`;
    else if (prev.unreachable) {
      reason = `moved from ${prevKey} to ${target.key}: ${prevKey} is unreachable (${prev.unreachable})`;
      warnings.push(`${r}: host ${prevKey} is unreachable (${prev.unreachable}); recreated on ${target.key} (its data on ${prevKey} is not moved; the stale copy is removed when ${prevKey} returns)`);
    } else if (prev.draining) reason = `moved from ${prevKey} to ${target.key}: ${prevKey} is draining`;
    else if (room.get(prevKey)! < stayers.get(prevKey)!.length && share.get(prevKey)! === room.get(prevKey)!) {
      reason = `moved from ${prevKey} to ${target.key}: no room on ${prevKey} (${roomText(prev, demand, room.get(prevKey)!)}; each needs ${demandText(demand)})`;
    } else reason = `moved from ${prevKey} to ${target.key}: spread (${peers})`;
    assignments[r] = { host: target.key, reason };
  }
  return { ok: true, assignments, warnings };
}
