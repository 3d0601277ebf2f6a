import { kindInputs, lifecycle, type TypedLifecycle, type Unchecked } from "./kind";
import { placementKind } from "./kinds";
import type { Limits } from "../../schema/limits";
import { parseInput } from "../../schema/issues";
import { maxUnavailableIssue, placementArgs, type PlacementArgs } from "../../schema/placement";
import { listPrefixes } from "../kernel/prefix";
import { hostContext } from "./host-context";
import { describeMoves, place, type Demand, type PoolHost } from "./placement";
import type { LifecycleImpl } from "./provider-types";
import { containsUnknown } from "./unknown";
import { info, warn } from "../log";

// The Placement resource: decides where each replica of a ContainerSet runs. It makes nothing on
// any host; its answer is computed at check and kept in its inputs, so it is known at preview (the
// Containers' `host` follows from it) and compared with the previous answer at the next check.

const { pickInputs, parse } = kindInputs(placementKind);
type Placement = typeof placementKind;

/** What one replica (or another cgroup on the host) reserves: memory.max, else memory.low; cpu.max. */
export function demandOf(limits: Limits): Demand {
  const mem = limits.memory;
  const memoryBytes = typeof mem?.max === "number" ? mem.max : typeof mem?.low === "number" ? mem.low : 0;
  const cpu = limits.cpu?.max;
  return { memoryBytes, cpuMillis: typeof cpu === "number" ? Math.round(cpu * 1000) : 0 };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000}s`)), ms)));
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

const firstLine = (e: unknown) => ((e as Error).message ?? String(e)).split("\n")[0]!.slice(0, 240);

/**
 * Asks one host of the pool for its machine (machine-id), memory, CPUs and what is declared on that
 * machine besides this set's replicas: the direct children of the cgroup of every prefix kslice
 * uses there (containers and budgets), its own prefix's and the others', each once. Hosts that are
 * prefixes of one machine thus report the same figures. Bounded in time; a host that does not
 * answer is unreachable, with the reason.
 */
async function probe(entry: PlacementArgs["hosts"][number], replicas: Set<string>, timeoutMs: number): Promise<PoolHost> {
  const base = { key: entry.key, draining: entry.draining };
  try {
    return await withTimeout(
      (async () => {
        const h = await hostContext(entry.host);
        // facts are cached per process: ask the host itself whether it still answers
        const prefixes = new Set([entry.host.prefix, ...(await listPrefixes(h.t, timeoutMs))]);
        let usedMemoryBytes = 0;
        let usedCpuMillis = 0;
        for (const prefix of [...prefixes].sort()) {
          const ctx = prefix === entry.host.prefix ? h : await hostContext({ ...entry.host, prefix });
          for (const child of (await ctx.cgroups.children("")).filter((c) => !replicas.has(c))) {
            const d = demandOf(ctx.cgroups.observe(await ctx.cgroups.read(child), { periodUs: 100_000, devices: {} }));
            usedMemoryBytes += d.memoryBytes;
            usedCpuMillis += d.cpuMillis;
          }
        }
        const machine = h.facts.machineId || undefined;
        return { ...base, machine, memoryBytes: h.facts.memoryTotalBytes, cpuMillis: h.facts.cpuCount * 1000, usedMemoryBytes, usedCpuMillis };
      })(),
      timeoutMs,
      `host ${entry.key}`,
    );
  } catch (e) {
    return { ...base, unreachable: firstLine(e), memoryBytes: 0, cpuMillis: 0, usedMemoryBytes: 0, usedCpuMillis: 0 };
  }
}

/** Probes the pool in parallel (each host bounded on its own) and places the replicas. */
export async function decide(args: PlacementArgs, previous: PlacementArgs["assignments"]): Promise<ReturnType<typeof place>> {
  const replicas = new Set(args.replicas);
  // a draining host is still probed: what it holds is not counted elsewhere, and its reason is shown
  const hosts = await Promise.all(args.hosts.map((entry) => probe(entry, replicas, args.probeTimeoutSeconds * 1000)));
  return place(args.replicas, hosts, demandOf(args.limits), previous ?? {}, { maxUnavailable: args.maxUnavailable });
}

/** Says on stderr what this answer moves now and what after another move (at preview too: check runs there). */
function logMoves(result: Extract<ReturnType<typeof place>, { ok: true }>, args: PlacementArgs): void {
  const text = describeMoves(result.moves, args.maxUnavailable);
  if (text) info(text);
}

function declared(props: Unchecked<Placement>): string {
  const { probeTimeoutSeconds: _, ...rest } = pickInputs(props);
  return JSON.stringify(rest);
}

const typed: TypedLifecycle<Placement> = {
  async check(olds, news) {
    const inputs = pickInputs(news);
    delete inputs.assignments;
    delete inputs.warnings;
    if (containsUnknown(inputs)) {
      // the pool is unknown until its Hosts exist (a first preview): the bound is refused all the same
      const { maxUnavailable, replicas } = inputs;
      const bad =
        maxUnavailable !== undefined && !containsUnknown({ maxUnavailable, replicas }) && Array.isArray(replicas)
          ? maxUnavailableIssue(maxUnavailable, replicas.length)
          : undefined;
      return bad ? { failures: [{ property: "maxUnavailable", reason: bad }] } : { inputs };
    }
    const r = parseInput(placementArgs, inputs);
    if (!r.ok) return { failures: r.failures };
    const previous = parseInput(placementArgs, pickInputs(olds));
    const result = await decide(r.value, previous.ok ? previous.value.assignments : undefined);
    if (!result.ok) return { failures: [{ property: "replicas", reason: result.reason }] };
    for (const w of result.warnings) warn(w);
    logMoves(result, r.value);
    // the user's notation of limits ("64Mi") stays as written
    return {
      inputs: { ...inputs, hosts: r.value.hosts, probeTimeoutSeconds: r.value.probeTimeoutSeconds, assignments: result.assignments, warnings: result.warnings },
    };
  },

  async diff(_id, olds, news) {
    if (containsUnknown(pickInputs(news)) || news.assignments === undefined) return { changes: true };
    return { changes: declared(olds) !== declared(news) };
  },

  async create(inputs) {
    const args = parse(inputs);
    let outs = pickInputs(inputs);
    // unknown at check (preview): decided now
    if (!args.assignments) {
      const result = await decide(args, undefined);
      if (!result.ok) throw new Error(`replicas: ${result.reason}`);
      outs = { ...outs, assignments: result.assignments, warnings: result.warnings };
    }
    return { id: `placement-${args.replicas[0]}-${args.replicas.length}`, outs };
  },

  async read(id, props) {
    return { id, props };
  },

  async update(_id, olds, news) {
    const args = parse(news);
    if (args.assignments) return { outs: pickInputs(news) };
    const previous = parseInput(placementArgs, pickInputs(olds));
    const result = await decide(args, previous.ok ? previous.value.assignments : undefined);
    if (!result.ok) throw new Error(`replicas: ${result.reason}`);
    logMoves(result, args);
    return { outs: { ...pickInputs(news), assignments: result.assignments, warnings: result.warnings } };
  },

  async delete() {
    // nothing on any host: the replicas are the Containers' to remove
  },
};

export const placementLifecycle: LifecycleImpl = lifecycle(placementKind, typed);
