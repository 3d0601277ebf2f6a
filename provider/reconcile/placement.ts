import { formatSize } from "../../schema/units";
import { cores, demandText, roomText, stillTrue } from "./placement-reasons";

export { describeMoves, stillTrue } from "./placement-reasons";

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
  /**
   * The machine (its machine-id) the host is a prefix of: hosts of one machine share one kernel, so
   * one failure domain and one capacity. @default the host is a machine of its own
   */
  machine?: string;
  memoryBytes: number;
  /** In millicores (1000 per CPU): integers, so that sums of 0.1 cores stay exact. */
  cpuMillis: number;
  /**
   * Declared on the machine by others (cgroups outside this set, under every prefix of the
   * machine): memory.max, or memory.low without a max. Hosts of one machine report the same figure.
   */
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
  /**
   * The replica whose move this one's waits for: set on a replica that moves off a reachable host
   * when `maxUnavailable` others move before it (ARCHITECTURE.md, "Rolling moves").
   */
  after?: string;
}

/** Bounds on what one answer may disturb at once. */
export interface PlaceOptions {
  /** How many replicas may be moving (so down or about to be) at once. @default 1 */
  maxUnavailable?: number;
}

/** A replica that changes host in an answer, in the order the moves are made. */
export interface Move {
  replica: string;
  from: string;
  to: string;
  /** The move it waits for; none: it starts at once. */
  after?: string;
}

export type PlacementResult =
  | { ok: true; assignments: Record<string, Assignment>; warnings: string[]; /** Moves off reachable hosts, bounded by maxUnavailable. */ moves: Move[] }
  | { ok: false; reason: string };

/** How many replicas fit on the host beside what others declared there (at most `limit`). */
export function roomFor(host: PoolHost, demand: Demand, limit: number): number {
  const fit = (total: number, used: number, each: number) => (each <= 0 ? limit : Math.max(0, Math.floor((total - used) / each)));
  return Math.min(limit, fit(host.memoryBytes, host.usedMemoryBytes, demand.memoryBytes), fit(host.cpuMillis, host.usedCpuMillis, demand.cpuMillis));
}

export const machineOf = (host: PoolHost) => host.machine || `host:${host.key}`;

/**
 * Assigns each replica a host.
 * - Eligible hosts: reachable and not draining. A replica needs `demand` free on its machine.
 * - Machines: hosts that are prefixes of one machine (same machine-id) share its kernel, so its
 *   memory and CPUs are counted once for all of them, and they are one failure domain.
 * - Spread: the counts per machine, then per host, are balanced (water-filling: each next replica
 *   goes to the machine with the fewest that still has room, and on it to the host with the fewest),
 *   so two replicas share a kernel only when no other eligible machine has room.
 * - Stable: a replica stays on its previous host while that host is eligible, has room, and is not
 *   above its balanced share; where the balance leaves a choice, hosts that already hold replicas
 *   keep them. The same inputs give the same answer, so an `up` with no change moves nothing.
 * - Not enough room in the pool: refused, naming each host's room and the shortfall.
 * - A pool with fewer machines than hosts is warned about (it spreads over fewer failure domains
 *   than it appears to).
 */
export function place(
  replicas: readonly string[],
  hosts: readonly PoolHost[],
  demand: Demand,
  previous: Readonly<Record<string, { host: string; reason?: string; after?: string } | undefined>>,
  options: PlaceOptions = {},
): PlacementResult {
  const n = replicas.length;
  const maxUnavailable = options.maxUnavailable ?? 1;
  const keys = new Set(hosts.map((h) => h.key));
  const dup = hosts.find((h, i) => hosts.findIndex((o) => o.key === h.key) !== i);
  if (dup) return { ok: false, reason: `host ${dup.key} is in the pool twice` };
  const eligible = hosts.filter((h) => !h.unreachable && !h.draining);
  // Each machine's room: its figures are the same whichever of its hosts reported them (the most
  // declared, should two reads differ); a machine none of whose hosts is eligible has none.
  const machineRoom = new Map<string, number>();
  for (const h of eligible) {
    const m = machineOf(h);
    const worst = eligible
      .filter((o) => machineOf(o) === m)
      .reduce((a, b) => (b.usedMemoryBytes + b.usedCpuMillis > a.usedMemoryBytes + a.usedCpuMillis ? b : a));
    if (!machineRoom.has(m)) machineRoom.set(m, roomFor(worst, demand, n));
  }
  const roomOf = (h: PoolHost) => (eligible.includes(h) ? (machineRoom.get(machineOf(h)) ?? 0) : 0);
  const sharing = (h: PoolHost) => hosts.filter((o) => o !== h && h.machine && o.machine === h.machine).map((o) => o.key);
  const total = [...machineRoom.values()].reduce((a, b) => a + b, 0);
  if (total < n) {
    const short = n - total;
    const need = [
      ...(demand.memoryBytes > 0 ? [`memory ${formatSize(short * demand.memoryBytes)}`] : []),
      ...(demand.cpuMillis > 0 ? [`cpu ${cores(short * demand.cpuMillis)}`] : []),
    ];
    return {
      ok: false,
      reason:
        `${n} replica(s) of ${demandText(demand)} each do not fit: the pool has room for ${total}, short by ${short}` +
        `${need.length ? ` (${need.join(", ")})` : ""}; ${hosts.map((h) => roomText(h, demand, roomOf(h), sharing(h))).join("; ")}`,
    };
  }

  // Replicas that could stay where they are (host eligible), by host, in the replicas' order.
  const stayers = new Map<string, string[]>(eligible.map((h) => [h.key, []]));
  for (const r of replicas) {
    const prev = previous[r]?.host;
    if (prev !== undefined && stayers.has(prev)) stayers.get(prev)!.push(r);
  }
  const machineStayers = (m: string) => eligible.filter((h) => machineOf(h) === m).reduce((sum, h) => sum + stayers.get(h.key)!.length, 0);

  // Balanced shares by water-filling, machines first; ties go to machines and hosts with more
  // stayers, then to pool order.
  const share = new Map(eligible.map((h) => [h.key, 0]));
  const machineShare = new Map([...machineRoom.keys()].map((m) => [m, 0]));
  const order = eligible.map((h, i) => ({ key: h.key, m: machineOf(h), i }));
  for (let placed = 0; placed < n; placed++) {
    const next = order
      .filter((h) => machineShare.get(h.m)! < machineRoom.get(h.m)!)
      .sort(
        (a, b) =>
          machineShare.get(a.m)! - machineShare.get(b.m)! ||
          machineStayers(b.m) - machineStayers(a.m) ||
          share.get(a.key)! - share.get(b.key)! ||
          stayers.get(b.key)!.length - stayers.get(a.key)!.length ||
          a.i - b.i,
      )[0]!;
    share.set(next.key, share.get(next.key)! + 1);
    machineShare.set(next.m, machineShare.get(next.m)! + 1);
  }

  const assignments: Record<string, Assignment> = {};
  const warnings: string[] = [];
  const machines = new Set(hosts.filter((h) => !h.unreachable).map(machineOf));
  const reachable = hosts.filter((h) => !h.unreachable);
  if (machines.size < reachable.length) {
    const groups = [...machines].map((m) => reachable.filter((h) => machineOf(h) === m)).filter((g) => g.length > 1);
    warnings.push(
      `the pool's ${reachable.length} reachable host(s) are ${machines.size} machine(s): ` +
        groups.map((g) => `${g.map((h) => h.key).join(", ")} are prefixes of one machine (machine-id ${g[0]!.machine})`).join("; ") +
        `; one machine is one failure domain, so replicas are spread over ${machines.size} machine(s) and its capacity is counted once`,
    );
  }
  const spread = `spread over ${eligible.length} eligible host(s)${machineRoom.size < eligible.length ? ` on ${machineRoom.size} machine(s)` : ""}`;
  const count = new Map(eligible.map((h) => [h.key, 0]));
  const restated: string[] = [];
  for (const h of eligible) {
    for (const r of stayers.get(h.key)!.slice(0, share.get(h.key)!)) {
      // the reason it came here stays while it is still true: the answer for unchanged inputs is the
      // stored one, word for word; a reason whose cause has ended ("a is draining" after an undrain)
      // is restated from the present below, once the counts are known (a restated reason is a
      // function of the present layout, so the next answer keeps it)
      const kept = previous[r];
      if (kept?.reason !== undefined && stillTrue(kept.reason, hosts)) assignments[r] = { ...kept, host: h.key, reason: kept.reason };
      else {
        assignments[r] = { host: h.key, reason: "" };
        restated.push(r);
      }
      count.set(h.key, count.get(h.key)! + 1);
    }
  }
  const moving: Move[] = [];
  for (const r of replicas) {
    if (assignments[r]) continue;
    const target = eligible.find((h) => count.get(h.key)! < share.get(h.key)!)!;
    count.set(target.key, count.get(target.key)! + 1);
    const prevKey = previous[r]?.host;
    const prev = hosts.find((h) => h.key === prevKey);
    const peers = `now ${count.get(target.key)} there`;
    let reason: string;
    if (prevKey === undefined) reason = `placed on ${target.key} (${peers}; ${spread})`;
    else if (!prev || !keys.has(prevKey)) reason = `moved from ${prevKey} to ${target.key}: ${prevKey} left the pool`;
    else if (prev.unreachable) {
      reason = `moved from ${prevKey} to ${target.key}: ${prevKey} is unreachable (${prev.unreachable})`;
      warnings.push(
        `${r}: host ${prevKey} is unreachable (${prev.unreachable}); recreated on ${target.key} (its data on ${prevKey} is not moved; the stale copy is removed when ${prevKey} returns)`,
      );
    } else if (prev.draining) reason = `moved from ${prevKey} to ${target.key}: ${prevKey} is draining`;
    else if (roomOf(prev) < machineStayers(machineOf(prev)) && machineShare.get(machineOf(prev))! === roomOf(prev)) {
      reason = `moved from ${prevKey} to ${target.key}: no room on ${prevKey} (${roomText(prev, demand, roomOf(prev), sharing(prev))}; each needs ${demandText(demand)})`;
    } else reason = `moved from ${prevKey} to ${target.key}: spread (${peers})`;
    assignments[r] = { host: target.key, reason };
    if (prevKey !== undefined && !prev?.unreachable) moving.push({ replica: r, from: prevKey, to: target.key });
  }
  // a kept "placed on b (now 1 there; spread over 2 eligible host(s))" or "kept on b (2 there; …)"
  // is restated too once the pool it was spread over, or the count on its host, is another
  for (const [r, a] of Object.entries(assignments)) {
    if (restated.includes(r) || a.reason !== previous[r]?.reason) continue;
    const layout = /^(placed|kept) on .+ \((?:now )?(\d+) there; (spread over .*)\)$/.exec(a.reason);
    if (layout && (layout[3] !== spread || (layout[1] === "kept" && Number(layout[2]) !== count.get(a.host)))) restated.push(r);
  }
  for (const r of restated) {
    const key = assignments[r]!.host;
    assignments[r] = { host: key, reason: `kept on ${key} (${count.get(key)} there; ${spread})` };
  }
  // Rolling: the moves off reachable hosts are ordered (the replicas' order) and each waits for the
  // one maxUnavailable places before it, so at most maxUnavailable move at once; recreations away
  // from an unreachable host are down already and go at once.
  moving.forEach((move, i) => {
    const a = assignments[move.replica]!;
    const waitFor = i >= maxUnavailable ? moving[i - maxUnavailable]!.replica : undefined;
    a.reason += ` (move ${i + 1} of ${moving.length}${waitFor ? `, after ${waitFor}` : ""}; at most ${maxUnavailable} at a time)`;
    if (waitFor) a.after = move.after = waitFor;
  });
  return { ok: true, assignments, warnings, moves: moving };
}
