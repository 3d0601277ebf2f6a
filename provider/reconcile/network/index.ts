import { ingressFailures, ipv6SourceFailures } from "../../../schema/ingress";
import { parseInput } from "../../../schema/issues";
import { networkArgs } from "../../../schema/network";
import { connectionKey } from "../../kernel/connection";
import type { NetworkSpec } from "../../kernel/network/bridge";
import { networkOwner } from "../../kernel/network/names";
import { networkRules, ruleComments } from "../../kernel/network/nft";
import { forgetReads } from "../host-context";
import { connectionChanged, hostMoved } from "../host-identity";
import { ownerConflict, ownerOf } from "../ownership";
import { lifecycle, type State, type TypedLifecycle } from "../kind";
import { networkKind } from "../kinds";
import type { LifecycleImpl } from "../provider-types";
import { containsUnknown } from "../unknown";
import { unreachableAtCheck } from "../unreachable";
import { admission, claims } from "./admission";
import { context, declared, ensure, networkSpec, parse, pickInputs, replaceKeys } from "./context";
import { observe, outputs } from "./observe";
import { warn } from "../../log";

/** The Network's lifecycle: check admits it on its host (admission.ts), diff and read probe the kernel (observe.ts). */
export { networkSpec } from "./context";

const typed: TypedLifecycle<typeof networkKind> = {
  async check(_olds, news) {
    const inputs = pickInputs(news);
    if (containsUnknown(inputs)) return { inputs };
    const r = parseInput(networkArgs, declared(inputs));
    if (!r.ok) return { failures: r.failures };
    try {
      const c = await context(r.value, "check", ownerOf(inputs));
      const failures = await admission(c);
      failures.push(...claims(c, r.value, ownerOf(inputs)));
      if (r.value.ingress) {
        const snap = await c.snapshots.claims();
        const where = `on host ${c.t.target} under prefix ${c.prefix}`;
        failures.push(
          ...ingressFailures(
            "ingress",
            r.value.ingress,
            (n) => (snap.addresses.get(n)?.size ?? 0) > 0,
            (n) => n === r.value.name || snap.networks.has(n),
            where,
          ),
        );
        if (!r.value.subnet6) failures.push(...ipv6SourceFailures("ingress", r.value.ingress, `network ${r.value.name} has no subnet6 (IPv4 only)`));
      }
      if (failures.length) return { failures };
      // Defaults filled in, so that a preview shows them and containers' refs carry them.
      return {
        inputs: {
          ...inputs,
          host: r.value.host,
          gateway: c.spec.gateway,
          bridge: c.spec.bridge,
          ...(c.spec.gateway6 ? { gateway6: inputs.gateway6 ?? c.spec.gateway6 } : {}),
        },
      };
    } catch (e) {
      const failures = unreachableAtCheck(e);
      return failures.length ? { failures } : { inputs: { ...inputs, host: r.value.host } };
    }
  },

  async diff(_id, olds, news) {
    const n = pickInputs(news);
    if (containsUnknown(n)) return { changes: true };
    const o = parse(olds);
    const a = parse(n);
    const replaces: string[] = replaceKeys.filter((k) => JSON.stringify(networkSpec(o)[k]) !== JSON.stringify(networkSpec(a)[k]));
    if (await hostMoved(olds, o.host, a.host)) replaces.push("host");
    if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
    // the same machine reached another way: the state must learn the new connection
    if (connectionChanged(o.host, a.host)) return { changes: true };
    if (
      o.nat !== a.nat ||
      o.isolated !== a.isolated ||
      o.dynamicRange !== a.dynamicRange ||
      o.dynamicRange6 !== a.dynamicRange6 ||
      JSON.stringify(o.ingress) !== JSON.stringify(a.ingress)
    )
      return { changes: true };
    const obs = await observe(await context(a, "diff"));
    return { changes: obs.missing || obs.drift.length > 0 };
  },

  async create(inputs) {
    const a = parse(inputs);
    const c = await context(a, "create", ownerOf(inputs));
    return c.view.createNetwork(async () => {
      const failures = await admission(c);
      if (failures.length) throw new Error(`${c.t.target}: network ${a.name}: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
      // A network of this name already on the host (state lost, another stack) is taken over only
      // if it is the same network: its containers' addresses live in its subnet.
      const record = await c.net.record(a.name);
      if (record !== undefined) {
        const old = JSON.parse(record) as NetworkSpec;
        const conflict = ownerConflict(`network ${a.name} under prefix ${a.host.prefix} on host ${c.t.target}`, old.owner, ownerOf(inputs), a.adopt);
        if (conflict) throw new Error(`${c.t.target}: ${conflict}`);
        if (old.subnet !== c.spec.subnet || old.gateway !== c.spec.gateway || old.bridge !== c.spec.bridge || old.subnet6 !== c.spec.subnet6) {
          throw new Error(
            `${c.t.target}: a network named ${a.name} already exists under prefix ${a.host.prefix} with another subnet, gateway or bridge (${old.subnet}, ${old.gateway}, ${old.bridge}); delete it or choose another name`,
          );
        }
      }
      const fresh = !(await c.net.stateDirExists());
      try {
        await ensure(c);
      } catch (e) {
        // nothing half-made stays (the bridge, the rules, the record, the prefix's dirs), unless it was there before
        if (record === undefined) await c.net.remove(c.spec, { bestEffort: true });
        if (fresh) await c.net.removeEmptyPrefixDirs();
        throw e;
      }
      return { id: `${connectionKey(a.host.connection)}/${a.host.prefix}/network/${a.name}`, outs: outputs(inputs, c, await observe(c)) };
    });
  },

  async read(id, props) {
    const a = parse(props);
    const c = await context(a, "read");
    const o = await observe(c);
    // gone from the kernel and from the host's records: gone. A bridge deleted by hand while the
    // record (and the containers' addresses) remain reads as status "missing", which update re-creates.
    if (o.missing && !o.probe.recorded) return {};
    // In the declaration's terms where one maps: a flushed NAT or isolation rule reads as false.
    // (A removed gateway address shows as a planned update: diff asks the kernel.)
    const all = networkRules(c.spec.bridge, c.spec.subnet, c.spec.nat, c.spec.isolated);
    const comments = ruleComments(networkOwner(c.spec.name), all);
    const present = (which: (r: (typeof all)[number]) => boolean) => all.every((r, i) => !which(r) || o.probe.comments.has(comments[i]!));
    const nat = a.nat && o.probe.ipForward && present((r) => r.rule.startsWith("ip saddr"));
    const isolated = a.isolated && present((r) => r.chain === "forward");
    // left out when left out and the kernel agrees with the default (no perpetual diff)
    const seen: State<typeof networkKind> = { ...props };
    if (props.nat !== undefined || nat) seen.nat = nat;
    if (props.isolated !== undefined || !isolated) seen.isolated = isolated;
    return { id, props: { ...seen, ...outputs(seen, c, o) } };
  },

  async update(_id, _olds, news) {
    const a = parse(news);
    const c = await context(a, "update", ownerOf(news));
    await ensure(c);
    return { outs: outputs(news, c, await observe(c)) };
  },

  async delete(_id, props) {
    const a = parse(props);
    const c = await context(a, "delete");
    // taken over by another owner (adopt: true): it is theirs now, and stays
    const record = await c.net.record(a.name);
    const holder = record ? (JSON.parse(record) as NetworkSpec).owner : undefined;
    if (holder && holder !== ownerOf(props)) {
      warn(`${c.t.target}: network ${a.name} under prefix ${a.host.prefix} now belongs to ${holder}; left in place`);
      return;
    }
    const users = await c.net.attached(a.name);
    if (users.length) {
      throw new Error(
        `${c.t.target}: network ${a.name} still has containers on it: ${users.join(", ")}; delete them or take the network out of their networks first`,
      );
    }
    await c.net.remove(c.spec);
    forgetReads();
  },
};

export const networkLifecycle: LifecycleImpl = lifecycle(networkKind, typed);
