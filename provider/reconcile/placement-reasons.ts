import type { Move, PoolHost } from "./placement";

// What a Placement says of its answer: whether a replica's stored reason still holds, and what moves.

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
