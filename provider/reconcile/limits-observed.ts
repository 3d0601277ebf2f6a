import { limits as limitsSchema, type Limits, type LimitsInput } from "../../schema/limits";
import { formatSize, parseSize } from "../../schema/units";
import type { Setting } from "../kernel/cgroup/settings";

/**
 * Replaces each drifted input in the user's limits with the kernel's value, in the user's notation.
 * A kernel value the schema cannot hold (an empty cpuset, which means "the parent's"; v1's
 * unlimited soft limit or v2's "max" as memory.low) leaves the field out: state must stay
 * parseable, and the program's value is then shown as added, which the next `up` writes.
 * Walked as nested maps: a drifted setting's key (`cpu.cpuset.cpus`) names its place.
 */
export function observedInputs(userLimits: LimitsInput | undefined, drift: Setting[], observed: Limits): LimitsInput {
  const out: Nested = structuredClone(userLimits ?? {});
  for (const s of drift) {
    const [ctrl, field, sub] = s.key.split(".");
    const obs = (observed as Record<string, Record<string, unknown>>)[ctrl!] ?? {};
    if (s.key.startsWith("io.devices[")) {
      const dev = /\[(.*)\]/.exec(s.key)![1]!;
      const list = (out.io?.devices as { device: string }[]) ?? [];
      const seen = ((observed.io?.devices ?? []) as { device: string }[]).find((d) => d.device === s.entry);
      out.io!.devices = list.map((d) => (d.device === dev ? { ...(seen ?? {}), device: dev } : d));
    } else if (ctrl === "cpu" && field === "cpuset") {
      const v = (obs.cpuset as Record<string, string> | undefined)?.[sub!];
      const cpuset: Record<string, unknown> = { ...(out.cpu?.cpuset as object), [sub!]: v };
      if (v === undefined) delete cpuset[sub!]; // empty: the parent's set
      out.cpu = { ...out.cpu, cpuset };
      if (!Object.keys(cpuset).length) delete out.cpu.cpuset;
    } else {
      const v = obs[field!];
      const written = out[ctrl!]?.[field!];
      // sizes written as "256Mi" come back in the same style
      const shown = typeof v === "number" && typeof written === "string" && parseSize(written) !== undefined ? formatSize(v) : v;
      out[ctrl!] = { ...out[ctrl!], [field!]: shown ?? "max" };
    }
  }
  return schemaValid(out);
}

/** Drops every field of refreshed limits that the limits schema rejects (and objects left empty). */
function schemaValid(out: Nested): LimitsInput {
  for (let i = 0; i < 20; i++) {
    const r = limitsSchema.safeParse(out);
    if (r.success) break;
    for (const issue of r.error.issues) dropPath(out, issue.path.length ? issue.path : []);
  }
  // what the schema accepts, in the user's notation (the parse's output would be bytes)
  return out as LimitsInput;
}

type Nested = Record<string, Record<string, unknown>>;

function dropPath(root: Record<string, unknown>, path: PropertyKey[]): void {
  if (!path.length) return;
  const parents: Record<string, unknown>[] = [root];
  for (const k of path.slice(0, -1)) {
    const next = parents[parents.length - 1]![k as string];
    if (typeof next !== "object" || next === null) return;
    parents.push(next as Record<string, unknown>);
  }
  const last = parents[parents.length - 1]!;
  if (Array.isArray(last)) last.splice(Number(path[path.length - 1]), 1);
  else delete last[path[path.length - 1] as string];
  // objects emptied by it go too ({ cpu: { cpuset: {} } } would manage nothing but still diff)
  for (let i = parents.length - 1; i > 0; i--) {
    const p = parents[i]!;
    if (Array.isArray(p) || Object.keys(p).length) break;
    delete parents[i - 1]![path[i - 1] as string];
  }
}
