import { kindInputs, lifecycle, type State, type TypedLifecycle } from "./kind";
import { hostKind, type HostFactsOutputs } from "./kinds";
import { hostArgs, type HostArgs } from "../../schema/host";
import { parseInput } from "../../schema/issues";
import { chooseRuntime, managedControllers } from "../kernel/host-facts";
import { connectionKey } from "../kernel/connection";
import { hostContext } from "./host-context";
import { hostMoved, machineIdentity } from "./host-identity";
import type { DiffResult, LifecycleImpl } from "./provider-types";
import { containsUnknown } from "./unknown";
import { OciRuntime } from "../kernel/container/runtime";
import { removeContainer } from "./container";
import { ownerOf, stackOf } from "./ownership";
import { PrefixHost, type PrefixUsers } from "../kernel/prefix";
import type { HostContext } from "./host-context";
import { unreachableAtCheck } from "./unreachable";
import { isHostUnreachable } from "../kernel/connection";
import { warn } from "../log";

/** The Host's outputs: its inputs (Node's diff only sees old outputs) and the facts read from the kernel. */
export type HostOutputs = HostArgs & HostFactsOutputs;

const { parse, declared } = kindInputs(hostKind);
type Host = typeof hostKind;

async function observe(args: HostArgs): Promise<HostOutputs> {
  const { t, facts } = await hostContext(args);
  const chosen = chooseRuntime(facts, args.runtime);
  if ("error" in chosen) throw new Error(`${t.target}: runtime: ${chosen.error}`);
  return {
    ...args,
    machineId: machineIdentity(facts, args.connection),
    hostname: facts.hostname,
    kernelRelease: facts.kernelRelease,
    cgroupMode: facts.cgroupMode,
    cgroupControllers: managedControllers(facts),
    cpuCount: facts.cpuCount,
    memoryTotalBytes: facts.memoryTotalBytes,
    userNamespaces: facts.userNamespaces,
    runtimes: facts.runtimes,
    runtimeName: chosen.runtime.name,
    runtimeVersion: chosen.runtime.version,
  };
}

const factKeys = [
  "machineId",
  "hostname",
  "kernelRelease",
  "cgroupMode",
  "cgroupControllers",
  "cpuCount",
  "memoryTotalBytes",
  "userNamespaces",
  "runtimes",
  "runtimeName",
  "runtimeVersion",
] as const;

const owned = (props: Partial<State<Host>>) => (ownerOf(props) ? { owner: ownerOf(props) } : {});

/** The prefix's setup on the host, as kernel/ reaches it. */
const prefixHost = (h: HostContext, prefix: string) => new PrefixHost(h.t, prefix, h.cgroups, h.facts.cgroupMounts);

/**
 * Registers the Host's stack as a user of the prefix on the host (one file per stack) and records
 * its `draining` there, where `kslice ps` and the dashboard read it (they see no Pulumi state).
 * An ownerless Host (state from before owners) records neither.
 */
async function registerStack(a: HostArgs, owner: string | undefined): Promise<void> {
  if (!owner) return;
  await prefixHost(await hostContext(a), a.prefix).registerStack(stackOf(owner), owner, a.draining ?? false);
}

/**
 * The stacks other than this Host's that still use the prefix (their registration, or containers
 * and networks they own); when there are any, the prefix's setup stays and a warning says so.
 */
function otherUsers(users: PrefixUsers, owner: string | undefined): string[] {
  const mine = owner ? stackOf(owner) : undefined;
  const stacks = new Set(users.stacks);
  for (const { owner: recorded } of users.owners) if (recorded && recorded !== "-" && stackOf(recorded) !== mine) stacks.add(stackOf(recorded));
  if (mine) stacks.delete(mine);
  return [...stacks];
}

const firstLine = (e: unknown) => String((e as Error).message ?? e).split("\n")[0]!;

/**
 * Inputs whose change means another machine (or another namespace of objects on it): replace.
 * A new address, port, user or transport of the same machine (its machine-id) is an update.
 */
export async function hostReplaces(oldOutputs: Partial<State<Host>>, olds: HostArgs, news: HostArgs): Promise<string[]> {
  const replaced = hostKind.replaces.filter((k) => olds[k] !== news[k]);
  if (replaced.length) return replaced;
  return (await hostMoved(oldOutputs, olds, news)) ? ["connection"] : [];
}

const typed: TypedLifecycle<Host> = {
  async check(_olds, news) {
    const owner = ownerOf(news) ? { owner: ownerOf(news) } : {};
    if (containsUnknown(news)) return { inputs: news };
    const r = parseInput(hostArgs, declared(news));
    if (!r.ok) return { failures: r.failures };
    // Preview must not fail later for a missing runtime: ask the host now (read-only).
    try {
      const h = await hostContext(r.value, "check");
      const chosen = chooseRuntime(h.facts, r.value.runtime);
      if ("error" in chosen) return { failures: [{ property: "runtime", reason: `${h.t.target}: ${chosen.error}` }] };
      // the budgets' and containers' diffs come next and wait on these: read them meanwhile
      h.view.warm(() => h.cgroups.procs(""), r.value.runtime);
    } catch (e) {
      // A host that does not answer (down, unplugged) fails only what runs on it, at its own step:
      // a ContainerSet re-places its replicas. A refused key or host key is a failure here.
      const failures = unreachableAtCheck(e, "connection");
      if (failures.length) return { failures };
    }
    return { inputs: { ...r.value, ...owner } };
  },

  async diff(_id, olds, news): Promise<DiffResult> {
    if (containsUnknown(news)) return { changes: true };
    const o = parse(olds);
    const n = parse(news);
    let replaces: string[];
    try {
      replaces = await hostReplaces(olds, o, n);
    } catch (e) {
      // a machine that does not answer cannot say who it is: nothing to replace, only inputs to record
      if (!isHostUnreachable(e)) throw e;
      warn(`host ${connectionKey(n.connection)} does not answer (${firstLine(e)}); its facts are not refreshed`);
      return { changes: JSON.stringify(o) !== JSON.stringify(n) };
    }
    if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
    if (JSON.stringify(o) !== JSON.stringify(n)) return { changes: true };
    // Diff against the kernel: a changed fact (kernel upgraded, runtime installed) updates the outputs.
    let now: HostOutputs;
    try {
      now = await observe(n);
    } catch (e) {
      warn(`host ${connectionKey(n.connection)} does not answer (${firstLine(e)}); its facts are not refreshed`);
      return { changes: false };
    }
    const changed = factKeys.some((k) => JSON.stringify(now[k]) !== JSON.stringify(olds[k]));
    return { changes: changed };
  },

  async create(inputs) {
    const args = parse(inputs);
    const outs = await observe(args);
    await registerStack(args, ownerOf(inputs));
    return { id: `${connectionKey(args.connection)}/${args.prefix}`, outs: { ...outs, ...owned(inputs) } };
  },

  async read(id, props) {
    const outs = await observe(parse(props));
    return { id, props: { ...outs, ...owned(props) } };
  },

  async update(_id, olds, news) {
    const args = parse(news);
    try {
      await registerStack(args, ownerOf(news));
      return { outs: { ...(await observe(args)), ...owned(news) } };
    } catch (e) {
      // e.g. `draining` set on a host that is down: the inputs are recorded, its facts stay as last read
      if (!isHostUnreachable(e)) throw e;
      warn(`host ${connectionKey(args.connection)} does not answer (${firstLine(e)}); its inputs are recorded, its facts not refreshed`);
      return { outs: { ...olds, ...args, ...owned(news) } };
    }
  },

  async delete(_id, props) {
    // Host-level setup (the prefix's root cgroups) goes only when nothing of kslice is left in it.
    const a = parse(props);
    const h = await hostContext(a);
    const prefix = prefixHost(h, a.prefix);
    const users = await prefix.users();
    const others = otherUsers(users, ownerOf(props));
    if (others.length) {
      // not the last user: only this registration goes (the last one's goes with the whole setup)
      const owner = ownerOf(props);
      if (owner) await prefix.unregisterStack(stackOf(owner));
      warn(`${h.t.target}: prefix "${a.prefix}" is still used by stack ${others.join(", ")}; its setup stays (only this stack's resources were removed)`);
      return;
    }
    // bundles that a killed create left incomplete belong to no resource: they go here
    for (const [name, path] of users.incomplete) {
      const chosen = chooseRuntime(h.facts, a.runtime);
      if ("error" in chosen) throw new Error(`${h.t.target}: runtime: ${chosen.error}`);
      await removeContainer(h, new OciRuntime(h.t, chosen.runtime.name, prefix.layout.runtimeRoot), a.prefix, name, path || name);
    }
    // one transaction: refused while containers, networks or cgroups remain; else cgroups, supervisor, boot unit, state, table
    const { keptMountPoints } = await prefix.remove();
    if (keptMountPoints.length) warn(`${h.t.target}: prefix "${a.prefix}": ${keptMountPoints.join(", ")} emptied and kept: a mount point`);
  },
};

export const hostLifecycle: LifecycleImpl = lifecycle(hostKind, typed);
