import { formatSize } from "../../schema/units";
import type { Demand, Move, PoolHost } from "./placement";

// What a Placement says of its answer: whether a replica's stored reason still holds, what moves, and each host's room.

/**
 * Whether a stored reason still describes the present: "moved from a to b: a is draining" holds
 * while a is in the pool and draining, "… a is unreachable …" while it does not answer, "… a left
 * the pool" while it is not in it. Other reasons (placed, spread, no room) say how the replica came
 * to be where it is and stay.
 */
export function stillTrue(reason: string, hosts: readonly PoolHost[]): boolean {
  const cited = /^moved from (.+) to .+?: \1 (is draining|is unreachable|left the pool)/.exec(reason);
  if (!cited) return true;
  const host = hosts.find((h) => h.key === cited[1]);
  if (cited[2] === "is draining") return !!host && host.draining && !host.unreachable;
  if (cited[2] === "is unreachable") return !!host?.unreachable;
  return !host;
}

/**
 * What an answer moves, for the preview and the log: "2 replica(s) move, at most 1 at a time: now
 * web-1 (a → b); later web-2 (a → b) after web-1". Empty when nothing moves.
 */
export function describeMoves(moves: readonly Move[], maxUnavailable: number): string {
  if (!moves.length) return "";
  const now = moves.filter((m) => !m.after).map((m) => `${m.replica} (${m.from} → ${m.to})`);
  const later = moves.filter((m) => m.after).map((m) => `${m.replica} (${m.from} → ${m.to}) after ${m.after}`);
  return `${moves.length} replica(s) move, at most ${maxUnavailable} at a time: now ${now.join(", ")}${later.length ? `; later ${later.join(", ")}` : ""}`;
}

export const cores = (millis: number) => `${millis / 1000} cores`;

/** A host's room for the replicas, for the refusal that names every host's. */
export function roomText(host: PoolHost, demand: Demand, room: number, sharing: string[] = []): string {
  if (host.unreachable) return `${host.key}: unreachable (${host.unreachable})`;
  if (host.draining) return `${host.key}: draining`;
  if (sharing.length) return `${host.key}: ${roomText(host, demand, room).slice(host.key.length + 2)}, shared with ${sharing.join(", ")} (one machine)`;
  const parts: string[] = [];
  if (demand.memoryBytes > 0) parts.push(`memory ${formatSize(Math.max(0, host.memoryBytes - host.usedMemoryBytes))} free of ${formatSize(host.memoryBytes)}`);
  if (demand.cpuMillis > 0) parts.push(`cpu ${cores(Math.max(0, host.cpuMillis - host.usedCpuMillis))} free of ${cores(host.cpuMillis)}`);
  return `${host.key}: room for ${room}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

/** What one replica reserves, in words. */
export function demandText(demand: Demand): string {
  const parts = [
    ...(demand.memoryBytes > 0 ? [`memory ${formatSize(demand.memoryBytes)}`] : []),
    ...(demand.cpuMillis > 0 ? [`cpu ${cores(demand.cpuMillis)}`] : []),
  ];
  return parts.length ? parts.join(", ") : "nothing declared";
}
