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

export const assignment = z.strictObject({ host: z.string(), reason: z.string() });

export const placementArgs = z
  .strictObject({
    /** The replicas' names (their containers' names on the hosts), in order. */
    replicas: z.array(cgroupName).min(1, "expected at least one replica"),
    /** The pool, in order of preference when counts tie. */
    hosts: z.array(poolEntry).min(1, "expected at least one host in the pool"),
    /** One replica's declared limits: memory.max (or memory.low) and cpu.max are reserved on its host. @default none */
    limits: limits.default({}),
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
    if (twice) ctx.addIssue({ code: "custom", path: ["hosts"], message: `got host ${JSON.stringify(twice)} twice; expected each host once` });
  });

export type PlacementArgs = z.output<typeof placementArgs>;
