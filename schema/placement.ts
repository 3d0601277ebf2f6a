import { z } from "zod";
import { limits } from "./limits";
import { cgroupName, hostRef } from "./resource-limits";

/** One host of a pool: its key (the Host's name), how to reach it, and whether it is draining. */
export const poolEntry = z.strictObject({
  key: z.string().min(1),
  host: hostRef,
  /** Its replicas move to the other hosts at the next up. @default false */
  draining: z.boolean().default(false),
});

export const assignment = z.strictObject({
  host: z.string(),
  reason: z.string(),
  /** The replica whose move this one's waits for (at most maxUnavailable move at once). */
  after: z.string().optional(),
});

/**
 * Why `maxUnavailable` is refused, or undefined: it must be a whole number from 1 (one replica moves
 * at a time) to the number of replicas (all at once); 0 would never move anything.
 */
export function maxUnavailableIssue(value: unknown, replicas: number): string | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= replicas) return undefined;
  return `got ${JSON.stringify(value) ?? String(value)}; expected a whole number from 1 (one replica moves at a time) to replicas (${replicas})`;
}

export const placementArgs = z
  .strictObject({
    /** The replicas' names (their containers' names on the hosts), in order. */
    replicas: z.array(cgroupName).min(1, "expected at least one replica"),
    /** The pool, in order of preference when counts tie. */
    hosts: z.array(poolEntry).min(1, "expected at least one host in the pool"),
    /** One replica's declared limits: memory.max (or memory.low) and cpu.max are reserved on its host. @default none */
    limits: limits.default({}),
    /**
     * How many replicas may be moving (stopped for their move, or copying to their new host) at
     * once: a drain, an undrain's rebalance or a limit change moves them in that many at a time, each
     * waiting for an earlier one, within one up. @default 1
     */
    maxUnavailable: z.number().default(1),
    /** Bound on asking each host whether it answers, in seconds. @default 10 */
    probeTimeoutSeconds: z.number().int().min(1).max(120).default(10),
    /** Computed at check: replica name → host key and why (kept in the inputs, so known at preview). */
    assignments: z.record(z.string(), assignment).optional(),
    /** Computed at check: replicas recreated away from an unreachable host; a pool with fewer machines than hosts. */
    warnings: z.array(z.string()).optional(),
  })
  .superRefine((v, ctx) => {
    const dup = v.replicas.find((r, i) => v.replicas.indexOf(r) !== i);
    if (dup) ctx.addIssue({ code: "custom", path: ["replicas"], message: `got ${JSON.stringify(dup)} twice; expected distinct names` });
    const keys = v.hosts.map((h) => h.key);
    const twice = keys.find((k, i) => keys.indexOf(k) !== i);
    const bad = maxUnavailableIssue(v.maxUnavailable, v.replicas.length);
    if (bad) ctx.addIssue({ code: "custom", path: ["maxUnavailable"], message: bad });
    if (twice) ctx.addIssue({ code: "custom", path: ["hosts"], message: `got host ${JSON.stringify(twice)} twice; expected each host once` });
  });

export type PlacementArgs = z.output<typeof placementArgs>;
