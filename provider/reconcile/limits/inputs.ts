import { limits as limitsSchema, type Limits } from "../../../schema/limits";
import type { ResourceLimitsArgs } from "../../../schema/resource-limits";
import { resolveBlockDevices } from "../../kernel/block-devices";
import type { PlanContext } from "../../kernel/cgroup/settings";
import type { HostContext } from "../host-context";
import { kindInputs } from "../kind";
import { limitsKind } from "../kinds";
import { containsUnknown } from "../unknown";

export const periodUs = 100_000;

export const { parse, pickInputs, declared } = kindInputs(limitsKind);

/** A parent's declared limits as its ResourceLimits passed them (unknown or invalid: none). */
export function declaredParentLimits(v: unknown): Limits | undefined {
  if (v === undefined || containsUnknown(v)) return undefined;
  const r = limitsSchema.safeParse(v);
  return r.success ? r.data : undefined;
}

export const nodePath = (a: { name: string; parent?: string }) => (a.parent ? `${a.parent}/${a.name}` : a.name);

export async function planContext(h: HostContext, l: Limits): Promise<PlanContext> {
  const devices = (l.io?.devices ?? []).map((d) => d.device);
  return { periodUs, devices: await resolveBlockDevices(h.t, devices) };
}

/** Limits that were declared in `olds` and are gone from `news`: they return to the kernel default. */
export function removedLimits(olds: Limits, news: Limits): Limits {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [ctrl, fields] of Object.entries(olds) as [string, Record<string, unknown>][]) {
    for (const [k, v] of Object.entries(fields ?? {})) {
      const now = (news as Record<string, Record<string, unknown> | undefined>)[ctrl]?.[k];
      if (v === undefined) continue;
      if (ctrl === "cpu" && k === "cpuset") {
        const cs = Object.fromEntries(Object.entries(v as object).filter(([f]) => (now as Record<string, unknown> | undefined)?.[f] === undefined));
        if (Object.keys(cs).length) out.cpu = { ...(out.cpu ?? {}), cpuset: cs };
      } else if (ctrl === "io" && k === "devices") {
        const kept = new Set(((now as { device: string }[] | undefined) ?? []).map((d) => d.device));
        const gone = (v as { device: string }[]).filter((d) => !kept.has(d.device));
        if (gone.length) out.io = { ...(out.io ?? {}), devices: gone };
      } else if (now === undefined) {
        out[ctrl] = { ...(out[ctrl] ?? {}), [k]: v };
      }
    }
  }
  return out as Limits;
}

/** A budget's record on the host: its owner, and its disk budget for children named by path. */
export const recordOf = (owner: string | undefined, a: ResourceLimitsArgs) =>
  JSON.stringify({ ...(owner ? { owner } : {}), ...(a.disk ? { disk: a.disk.max } : {}) });
