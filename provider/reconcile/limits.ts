import { parseInput, type InputFailure } from "../../schema/issues";
import type { Limits } from "../../schema/limits";
import { resourceLimitsArgs, type ResourceLimitsArgs } from "../../schema/resource-limits";
import { expandList, formatSize } from "../../schema/units";
import { observedInputs } from "./limits-observed";
import { resolveBlockDevices } from "../kernel/block-devices";
import type { PlanContext } from "../kernel/cgroup/settings";
import { connectionKey } from "../kernel/connection";
import { hostMoved, machineIdentity } from "./host-identity";
import { hostContext, registerSharedRead, type HostContext } from "./host-context";
import type { CheckResult, DiffResult, LifecycleImpl, Props } from "./provider-types";
import { containsUnknown } from "./unknown";
import { claim, ownerConflict, ownerOf, recordedOwner } from "./ownership";
import { hostLayout } from "../kernel/container/layout";
import { BudgetRecords } from "../kernel/owners";
import { idleMs } from "../kernel/shared-read";
import { limits as limitsSchema } from "../../schema/limits";
import { unreachableAtCheck } from "./unreachable";
import { declaredParentDisk, diskBudgetAdmission, recordedDisk } from "./disk-budget";
import { warn } from "../log";

const periodUs = 100_000;

function parse(props: Props): ResourceLimitsArgs {
  const r = parseInput(resourceLimitsArgs, declared(props));
  if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
  return r.value;
}

const inputKeys = ["host", "name", "parent", "limits", "disk", "onDeleteWithProcesses", "adopt", "owner"] as const;

function pickInputs(props: Props): Props {
  return Object.fromEntries(inputKeys.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
}

/** The declaration without `owner` (kept in state, never diffed: see ownership.ts). */
function declared(props: Props): Props {
  const { owner: _owner, ...rest } = pickInputs(props);
  return rest;
}

/** A parent's declared limits as its ResourceLimits passed them (unknown or invalid: none). */
export function declaredParentLimits(v: unknown): Limits | undefined {
  if (v === undefined || containsUnknown(v)) return undefined;
  const r = limitsSchema.safeParse(v);
  return r.success ? r.data : undefined;
}

// The budget records of a host and prefix, read once for a burst of checks (see SharedRead).
const recordReads = new Map<string, BudgetRecords>();
export function budgetRecords(a: Pick<ResourceLimitsArgs, "host">, h: HostContext): BudgetRecords {
  const key = `${connectionKey(a.host.connection)}/${a.host.prefix}`;
  let r = recordReads.get(key);
  if (!r) {
    r = new BudgetRecords(h.t, hostLayout(a.host.prefix), idleMs);
    recordReads.set(key, r);
    registerSharedRead(r);
  }
  return r;
}

/**
 * Ownership at check: a path declared twice in this program; a new node over a cgroup that exists
 * (kslice's own record: crash recovery, taken over; another owner's or none: adopt: true); a node
 * another owner took over.
 */
async function ownerAdmission(a: ResourceLimitsArgs, h: HostContext, olds: Props, owner: string | undefined): Promise<InputFailure[]> {
  const failures: InputFailure[] = [];
  const path = nodePath(a);
  const where = `cgroup ${a.host.prefix}/${path} on host ${h.t.target}`;
  if (owner) {
    for (const other of claim(`budget ${connectionKey(a.host.connection)}/${a.host.prefix}`, owner, path)) {
      failures.push({ property: "name", reason: `got ${JSON.stringify(path)}, also the path of ${other} in this program` });
    }
  }
  const record = (await budgetRecords(a, h).all()).get(path);
  const conflict = ownerConflict(where, recordedOwner(record), owner, a.adopt);
  if (conflict) failures.push({ property: "name", reason: conflict });
  const o = typeof olds.name === "string" ? parseInput(resourceLimitsArgs, declared(olds)) : undefined;
  const isNew = !o?.ok || nodePath(o.value) !== path || connectionKey(o.value.host.connection) !== connectionKey(a.host.connection) || o.value.host.prefix !== a.host.prefix;
  if (owner && isNew && !conflict && !a.adopt && recordedOwner(record) === undefined && (await h.cgroups.exists(path))) {
    failures.push({ property: "name", reason: `${where} already exists and kslice has no record of its owner; set adopt: true to take it over (its processes stay)` });
  }
  return failures;
}

export const nodePath = (a: { name: string; parent?: string }) => (a.parent ? `${a.parent}/${a.name}` : a.name);

async function planContext(h: HostContext, l: Limits): Promise<PlanContext> {
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

/**
 * Host-specific checks of the limits of a node (a ResourceLimits or a container): what the host
 * cannot express, and admission against the host and the parent.
 */
export async function limitsAdmission(
  a: Pick<ResourceLimitsArgs, "limits" | "name" | "parent">,
  h: HostContext,
  /** The parent's declared limits when it is a ResourceLimits of the same program (it may not exist yet). */
  declaredParent?: Limits,
): Promise<InputFailure[]> {
  const failures: InputFailure[] = [];
  const at = (key: string, reason: string) => failures.push({ property: `limits.${key}`, reason: `${reason} (host ${h.t.target})` });
  for (const u of h.cgroups.unsupported(a.limits)) at(u.key, u.reason);
  const cpuMax = a.limits.cpu?.max;
  if (typeof cpuMax === "number" && cpuMax > h.facts.cpuCount) at("cpu.max", `got ${cpuMax} cores; this host has ${h.facts.cpuCount}`);
  const effective = new Set(expandList(h.facts.effectiveCpus));
  const cpus = a.limits.cpu?.cpuset?.cpus;
  if (cpus) {
    const outside = expandList(cpus).filter((c) => !effective.has(c));
    if (outside.length) at("cpu.cpuset.cpus", `got ${JSON.stringify(cpus)}; CPUs ${outside.join(",")} are outside the host's effective CPUs ${h.facts.effectiveCpus}`);
  }
  const devices = a.limits.io?.devices ?? [];
  if (devices.length) {
    const known = await resolveBlockDevices(h.t, devices.map((d) => d.device));
    devices.forEach((d, i) => {
      if (!known[d.device]) failures.push({ property: `limits.io.devices.${i}.device`, reason: `got ${JSON.stringify(d.device)}; no such block device on host ${h.t.target}` });
    });
  }
  if (a.parent) {
    // declared limits win: the parent may not exist yet, or be about to change
    const p = declaredParent ?? ((await h.cgroups.exists(a.parent)) ? h.cgroups.observe(await h.cgroups.read(a.parent), await planContext(h, {})) : undefined);
    if (p) {
      const above = (key: string, mine: number | "max" | undefined, theirs: number | "max" | undefined, show: (n: number) => string) => {
        if (mine === undefined || theirs === undefined || theirs === "max") return;
        if (mine === "max" || mine > theirs) at(key, `got ${mine === "max" ? "max" : show(mine)}, above the parent ${a.parent}'s ${show(theirs)}`);
      };
      above("memory.max", a.limits.memory?.max, p.memory?.max, formatSize);
      above("pids.max", a.limits.pids?.max, p.pids?.max, String);
      above("cpu.max", a.limits.cpu?.max, p.cpu?.max, (n) => `${n} cores`);
    }
  }
  const low = a.limits.memory?.low;
  if (low) {
    const siblings = (await h.cgroups.children(a.parent ?? "")).filter((c) => c !== a.name);
    const ctx = await planContext(h, {});
    let sum = low;
    for (const s of siblings) {
      const o = h.cgroups.observe(await h.cgroups.read(a.parent ? `${a.parent}/${s}` : s), ctx);
      sum += typeof o.memory?.low === "number" ? o.memory.low : 0;
    }
    if (sum > h.facts.memoryTotalBytes) {
      at("memory.low", `guarantees of ${formatSize(sum)} with its siblings exceed the host's memory of ${formatSize(h.facts.memoryTotalBytes)}`);
    }
  }
  return failures;
}

/**
 * The disk budget of a node's parent: as the parent's ResourceLimits declared it in this program
 * (`parentDisk`), else as its record on the host says (a parent named by path).
 */
export async function parentDiskBudget(a: Pick<ResourceLimitsArgs, "host" | "parent">, h: HostContext, parentDisk: unknown): Promise<number | undefined> {
  if (!a.parent) return undefined;
  return declaredParentDisk(parentDisk) ?? recordedDisk((await budgetRecords(a, h).all()).get(a.parent));
}

/** A budget's record on the host: its owner, and its disk budget for children named by path. */
const recordOf = (owner: string | undefined, a: ResourceLimitsArgs) => JSON.stringify({ ...(owner ? { owner } : {}), ...(a.disk ? { disk: a.disk.max } : {}) });

export const limitsLifecycle: LifecycleImpl = {
  async check(olds, news): Promise<CheckResult> {
    const inputs = pickInputs(news);
    if (containsUnknown(inputs)) return { inputs };
    const r = parseInput(resourceLimitsArgs, declared(inputs));
    if (!r.ok) return { failures: r.failures };
    try {
      const h = await hostContext(r.value.host);
      const failures = await limitsAdmission(r.value, h, declaredParentLimits(news.parentLimits));
      failures.push(...(await ownerAdmission(r.value, h, olds, ownerOf(inputs))));
      const label = `ResourceLimits ${nodePath(r.value)}`;
      const budget = await parentDiskBudget(r.value, h, news.parentDisk);
      failures.push(...diskBudgetAdmission(r.value.host, r.value.parent, budget, { key: ownerOf(inputs) ?? label, label, bytes: r.value.disk?.max }));
      if (failures.length) return { failures };
    } catch (e) {
      const failures = unreachableAtCheck(e);
      if (failures.length) return { failures };
    }
    // Keep the user's notation ("256Mi") in state so that diffs are shown as written.
    return { inputs: { ...inputs, host: r.value.host, onDeleteWithProcesses: r.value.onDeleteWithProcesses, adopt: r.value.adopt } };
  },

  async diff(_id, olds, news): Promise<DiffResult> {
    // Unknown during preview: say "changes" and let the real update decide, never a guessed replace.
    const n = pickInputs(news);
    if (containsUnknown(n)) return { changes: true };
    const replaces: string[] = (["name", "parent"] as const).filter((k) => JSON.stringify(n[k]) !== JSON.stringify(olds[k]));
    const o = parse(olds);
    const a = parse(n);
    if (await hostMoved(olds, o.host, a.host)) replaces.push("host");
    if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
    if (JSON.stringify(declared(olds)) !== JSON.stringify(declared(n))) return { changes: true };
    // Same inputs: diff against the kernel.
    const h = await hostContext(a.host);
    const path = nodePath(a);
    if (!(await h.cgroups.exists(path))) return { changes: true };
    const ctx = await planContext(h, a.limits);
    const files = await h.cgroups.read(path);
    return { changes: h.cgroups.drift(h.cgroups.plan(a.limits, ctx), files).length > 0 };
  },

  async create(inputs) {
    const a = parse(inputs);
    const h = await hostContext(a.host);
    const path = nodePath(a);
    const ctx = await planContext(h, a.limits);
    const owner = ownerOf(inputs);
    const record = await budgetRecords(a, h).read(path);
    const conflict = ownerConflict(`cgroup ${a.host.prefix}/${path} on host ${h.t.target}`, recordedOwner(record), owner, a.adopt);
    if (conflict) throw new Error(`${h.t.target}: ${conflict}`);
    // the record goes first: a create killed after the mkdir is recognised as ours by the next one
    if (owner || a.disk) await budgetRecords(a, h).write(path, recordOf(owner, a));
    budgetRecords(a, h).invalidate();
    const forget = () => (record === undefined ? budgetRecords(a, h).remove(path) : Promise.resolve());
    let undo: () => Promise<unknown>;
    try {
      undo = await h.cgroups.create(path, a.parent ?? "", { adopt: a.adopt || (owner !== undefined && recordedOwner(record) === owner) });
    } catch (e) {
      await forget();
      throw e;
    }
    try {
      await h.cgroups.apply(path, a.parent ?? "", h.cgroups.plan(a.limits, ctx));
    } catch (e) {
      // Transactional create: an adopted node stays, one made here goes.
      await undo();
      await forget();
      throw new Error(`${h.t.target}: cgroup ${a.host.prefix}/${path}: ${(e as Error).message}`, { cause: e });
    }
    return { id: `${connectionKey(a.host.connection)}/${a.host.prefix}/${path}`, outs: { ...pickInputs(inputs), path, machineId: machineIdentity(h.facts, a.host.connection) } };
  },

  async read(id, props) {
    const a = parse(props);
    const h = await hostContext(a.host);
    const path = nodePath(a);
    if (!(await h.cgroups.exists(path))) return {};
    const ctx = await planContext(h, a.limits);
    const files = await h.cgroups.read(path);
    const drift = h.cgroups.drift(h.cgroups.plan(a.limits, ctx), files).map((d) => d.setting);
    const limits = drift.length ? observedInputs(props.limits as Record<string, Record<string, unknown>>, drift, h.cgroups.observe(files, ctx)) : props.limits;
    return { id, props: { ...props, ...(limits !== undefined ? { limits } : {}), path, machineId: machineIdentity(h.facts, a.host.connection) } };
  },

  async update(_id, olds, news) {
    const o = parse(olds);
    const a = parse(news);
    const h = await hostContext(a.host);
    const path = nodePath(a);
    const parent = a.parent ?? "";
    // Deleted behind kslice's back: make it again (its processes are gone with it).
    if (!(await h.cgroups.exists(path))) await h.cgroups.create(path, parent, { adopt: true });
    const ctx = await planContext(h, { io: { devices: [...(a.limits.io?.devices ?? []), ...(o.limits.io?.devices ?? [])] } });
    const files = await h.cgroups.read(path);
    const resets = h.cgroups.reset(removedLimits(o.limits, a.limits), ctx);
    const wanted = h.cgroups.drift(h.cgroups.plan(a.limits, ctx), files).map((d) => d.setting);
    await h.cgroups.apply(path, parent, [...resets, ...wanted]);
    // state written before ownership: the record comes with the first update
    if ((ownerOf(news) && ownerOf(olds) !== ownerOf(news)) || o.disk?.max !== a.disk?.max) {
      await budgetRecords(a, h).write(path, recordOf(ownerOf(news), a));
    }
    return { outs: { ...pickInputs(news), path, machineId: machineIdentity(h.facts, a.host.connection) } };
  },

  async delete(_id, props) {
    const a = parse(props);
    const h = await hostContext(a.host);
    const path = nodePath(a);
    const record = await budgetRecords(a, h).read(path);
    const holder = recordedOwner(record);
    if (holder && holder !== ownerOf(props)) {
      warn(`${h.t.target}: cgroup ${a.host.prefix}/${path} now belongs to ${holder}; left in place`);
      return;
    }
    const forget = () => budgetRecords(a, h).remove(path);
    if (!(await h.cgroups.exists(path))) return void (await forget());
    const procs = await h.cgroups.procs(path);
    if (procs.length) {
      if (a.onDeleteWithProcesses !== "kill") {
        throw new Error(
          `${h.t.target}: cgroup ${a.host.prefix}/${path} still has ${procs.length} process(es) (pids ${procs.slice(0, 10).join(", ")}); ` +
            `stop them, or set onDeleteWithProcesses: "kill" to kill them on delete`,
        );
      }
      await h.cgroups.kill(path);
    }
    const children = await h.cgroups.children(path);
    if (children.length) {
      throw new Error(`${h.t.target}: cgroup ${a.host.prefix}/${path} still has child cgroups: ${children.join(", ")}`);
    }
    await h.cgroups.remove(path);
    await forget();
  },
};
