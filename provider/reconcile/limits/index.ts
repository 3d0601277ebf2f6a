import { parseInput } from "../../../schema/issues";
import { resourceLimitsArgs } from "../../../schema/resource-limits";
import { connectionKey } from "../../kernel/connection";
import { diskBudgetAdmission } from "../disk-budget";
import { hostContext } from "../host-context";
import { hostMoved, machineIdentity } from "../host-identity";
import { observedInputs } from "../limits-observed";
import { ownerConflict, ownerOf, recordedOwner } from "../ownership";
import { lifecycle, type TypedLifecycle } from "../kind";
import { limitsKind } from "../kinds";
import type { LifecycleImpl } from "../provider-types";
import { containsUnknown } from "../unknown";
import { unreachableAtCheck } from "../unreachable";
import { limitsAdmission, ownerAdmission, parentDiskBudget } from "./admission";
import { declared, declaredParentLimits, nodePath, parse, pickInputs, planContext, recordOf, removedLimits } from "./inputs";
import { warn } from "../../log";

export { limitsAdmission, parentDiskBudget } from "./admission";
export { declaredParentLimits, removedLimits } from "./inputs";

/** The ResourceLimits' lifecycle: a cgroup node with its limits and its record (owner, disk budget) on the host. */
const typed: TypedLifecycle<typeof limitsKind> = {
  async check(olds, news) {
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

  async diff(_id, olds, news) {
    // Unknown during preview: say "changes" and let the real update decide, never a guessed replace.
    const n = pickInputs(news);
    if (containsUnknown(n)) return { changes: true };
    const replaces: string[] = limitsKind.replaces.filter((k) => JSON.stringify(n[k]) !== JSON.stringify(olds[k]));
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
    const record = await h.view.budgets().read(path);
    const conflict = ownerConflict(`cgroup ${a.host.prefix}/${path} on host ${h.t.target}`, recordedOwner(record), owner, a.adopt);
    if (conflict) throw new Error(`${h.t.target}: ${conflict}`);
    // the record goes first: a create killed after the mkdir is recognised as ours by the next one
    if (owner || a.disk) await h.view.budgets().write(path, recordOf(owner, a));
    h.view.budgets().invalidate();
    const forget = () => (record === undefined ? h.view.budgets().remove(path) : Promise.resolve());
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
    return {
      id: `${connectionKey(a.host.connection)}/${a.host.prefix}/${path}`,
      outs: { ...pickInputs(inputs), path, machineId: machineIdentity(h.facts, a.host.connection) },
    };
  },

  async read(id, props) {
    const a = parse(props);
    const h = await hostContext(a.host);
    const path = nodePath(a);
    if (!(await h.cgroups.exists(path))) return {};
    const ctx = await planContext(h, a.limits);
    const files = await h.cgroups.read(path);
    const drift = h.cgroups.drift(h.cgroups.plan(a.limits, ctx), files).map((d) => d.setting);
    const limits = drift.length ? observedInputs(props.limits, drift, h.cgroups.observe(files, ctx)) : props.limits;
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
      await h.view.budgets().write(path, recordOf(ownerOf(news), a));
    }
    return { outs: { ...pickInputs(news), path, machineId: machineIdentity(h.facts, a.host.connection) } };
  },

  async delete(_id, props) {
    const a = parse(props);
    const h = await hostContext(a.host);
    const path = nodePath(a);
    const record = await h.view.budgets().read(path);
    const holder = recordedOwner(record);
    if (holder && holder !== ownerOf(props)) {
      warn(`${h.t.target}: cgroup ${a.host.prefix}/${path} now belongs to ${holder}; left in place`);
      return;
    }
    const forget = () => h.view.budgets().remove(path);
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

export const limitsLifecycle: LifecycleImpl = lifecycle(limitsKind, typed);
