import { parseInput, type InputFailure } from "../../../schema/issues";
import type { Limits } from "../../../schema/limits";
import { resourceLimitsArgs, type ResourceLimitsArgs } from "../../../schema/resource-limits";
import { expandList, formatSize } from "../../../schema/units";
import { resolveBlockDevices } from "../../kernel/block-devices";
import { connectionKey } from "../../kernel/connection";
import { declaredParentDisk, recordedDisk } from "../disk-budget";
import type { HostContext } from "../host-context";
import { claim, ownerConflict, recordedOwner } from "../ownership";
import type { State } from "../kind";
import type { limitsKind } from "../kinds";
import { declared, nodePath, planContext } from "./inputs";

/**
 * Ownership at check: a path declared twice in this program; a new node over a cgroup that exists
 * (kslice's own record: crash recovery, taken over; another owner's or none: adopt: true); a node
 * another owner took over.
 */
export async function ownerAdmission(
  a: ResourceLimitsArgs,
  h: HostContext,
  olds: Partial<State<typeof limitsKind>>,
  owner: string | undefined,
): Promise<InputFailure[]> {
  const failures: InputFailure[] = [];
  const path = nodePath(a);
  const where = `cgroup ${a.host.prefix}/${path} on host ${h.t.target}`;
  if (owner) {
    for (const other of claim(`budget ${connectionKey(a.host.connection)}/${a.host.prefix}`, owner, path)) {
      failures.push({ property: "name", reason: `got ${JSON.stringify(path)}, also the path of ${other} in this program` });
    }
  }
  const record = (await h.view.budgets().all()).get(path);
  const conflict = ownerConflict(where, recordedOwner(record), owner, a.adopt);
  if (conflict) failures.push({ property: "name", reason: conflict });
  const o = typeof olds.name === "string" ? parseInput(resourceLimitsArgs, declared(olds)) : undefined;
  const isNew =
    !o?.ok ||
    nodePath(o.value) !== path ||
    connectionKey(o.value.host.connection) !== connectionKey(a.host.connection) ||
    o.value.host.prefix !== a.host.prefix;
  if (owner && isNew && !conflict && !a.adopt && recordedOwner(record) === undefined && (await h.cgroups.exists(path))) {
    failures.push({
      property: "name",
      reason: `${where} already exists and kslice has no record of its owner; set adopt: true to take it over (its processes stay)`,
    });
  }
  return failures;
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
    if (outside.length)
      at("cpu.cpuset.cpus", `got ${JSON.stringify(cpus)}; CPUs ${outside.join(",")} are outside the host's effective CPUs ${h.facts.effectiveCpus}`);
  }
  const devices = a.limits.io?.devices ?? [];
  if (devices.length) {
    const known = await resolveBlockDevices(
      h.t,
      devices.map((d) => d.device),
    );
    devices.forEach((d, i) => {
      if (!known[d.device])
        failures.push({ property: `limits.io.devices.${i}.device`, reason: `got ${JSON.stringify(d.device)}; no such block device on host ${h.t.target}` });
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
  return declaredParentDisk(parentDisk) ?? recordedDisk((await h.view.budgets().all()).get(a.parent));
}
