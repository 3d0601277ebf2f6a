import { overlaps, parseSubnet, type Subnet } from "../../schema/ipv4";
import { parseInput, type InputFailure } from "../../schema/issues";
import { defaultGateway, networkArgs, type NetworkArgs } from "../../schema/network";
import { hostLayout } from "../kernel/container/layout";
import { parseNetworkProbe, type NetworkProbe, type NetworkSpec } from "../kernel/network/bridge";
import { bridgeAlias, defaultBridge, networkOwner } from "../kernel/network/names";
import { baseComments, networkRules, ruleComments } from "../kernel/network/nft";
import { guardComments } from "../kernel/network/guard";
import { connectionKey } from "../kernel/connection";
import { NetworkHost } from "../kernel/network/host";
import { connectionChanged, hostMoved, machineIdentity } from "./host-identity";
import { forgetReads, hostContext } from "./host-context";
import type { CheckResult, DiffResult, LifecycleImpl, Props } from "./provider-types";
import { containsUnknown } from "./unknown";
import { claim, ownerConflict, ownerOf, stackOf } from "./ownership";
import { hostSnapshots } from "./container-reads";
import { perResource, type ClaimsSnapshot, type PerResourceReads } from "../kernel/container/snapshot";
import { unreachableAtCheck } from "./unreachable";
import { ingressFailures } from "../../schema/ingress";
import { warn } from "../log";

const inputKeys = ["host", "name", "subnet", "gateway", "bridge", "nat", "isolated", "dynamicRange", "adopt", "owner", "ingress"] as const;
/** A network's identity on the host: another value is another bridge (and its containers' addresses). */
const replaceKeys = ["name", "subnet", "gateway", "bridge"] as const;

function pickInputs(props: Props): Props {
  return Object.fromEntries(inputKeys.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
}

/** The declaration with its defaults: the gateway is the subnet's first address, the bridge named after the network. */
export function networkSpec(a: NetworkArgs): NetworkSpec {
  const s = parseSubnet(a.subnet)!;
  return {
    name: a.name,
    bridge: a.bridge ?? defaultBridge(a.host.prefix, a.name),
    subnet: a.subnet,
    gateway: a.gateway ?? defaultGateway(a.subnet),
    bits: s.bits,
    nat: a.nat,
    isolated: a.isolated,
    ...(a.dynamicRange ? { dynamicRange: a.dynamicRange } : {}),
    ...(a.ingress ? { ingress: a.ingress } : {}),
  };
}

/** The declaration without `owner` (kept in state and in the host's record, never diffed: see ownership.ts). */
function declared(props: Props): Props {
  const { owner: _owner, ...rest } = pickInputs(props);
  return rest;
}

function parse(props: Props): NetworkArgs {
  const r = parseInput(networkArgs, declared(props));
  if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
  return r.value;
}

async function context(a: NetworkArgs, owner?: string) {
  const h = await hostContext(a.host);
  return {
    t: h.t, net: new NetworkHost(h.t, a.host.prefix), facts: h.facts, connection: a.host.connection, layout: hostLayout(a.host.prefix), spec: { ...networkSpec(a), ...(owner ? { owner } : {}) }, prefix: a.host.prefix, adopt: a.adopt,
    snapshots: hostSnapshots(h, a.host),
  };
}
type Ctx = Awaited<ReturnType<typeof context>>;

// What checks need of the host beside its records (tools, interfaces, routes): once per snapshot.
const hostReads = new WeakMap<ClaimsSnapshot, Promise<string>>();

/**
 * admission's view of the host, in its fresh form's lines. At check (`shared`) it comes from the
 * host's snapshot and one read of its interfaces and routes, shared by every network's check.
 */
async function admissionLines(c: Ctx, shared: boolean): Promise<string[]> {
  const n = c.spec;
  if (!shared) {
    return c.net.admissionLines(n.bridge);
  }
  const snap = await c.snapshots.claims();
  let host = hostReads.get(snap);
  if (!host) {
    host = c.net.hostLines();
    hostReads.set(snap, host);
    host.catch(() => hostReads.delete(snap));
  }
  const lines = (await host).split("\n");
  const iface = lines.find((l) => l === `iface ${n.bridge}` || l.startsWith(`iface ${n.bridge} `));
  return [
    ...lines.filter((l) => !l.startsWith("iface ")),
    `alias ${iface === undefined ? "-" : iface.slice(`iface ${n.bridge} `.length)}`,
    ...[...snap.networks.values()].map((spec) => `record -:${JSON.stringify(spec)}`),
  ];
}

/** What the host already holds that this network would collide with: subnets, the bridge name, tools. */
async function admission(c: Ctx, shared = false): Promise<InputFailure[]> {
  const n = c.spec;
  const lines = await admissionLines(c, shared);
  const failures: InputFailure[] = [];
  const missing = lines.filter((l) => l.startsWith("missing ")).map((l) => l.slice(8));
  if (missing.length) {
    const pkg: Record<string, string> = { ip: "iproute2", tc: "iproute2", nft: "nftables", nsenter: "util-linux", flock: "util-linux" };
    failures.push({ property: "host", reason: `host ${c.t.target} lacks ${missing.join(", ")}; install ${[...new Set(missing.map((m) => pkg[m]))].join(", ")}` });
  }
  const alias = (lines.find((l) => l.startsWith("alias ")) ?? "alias -").slice(6);
  if (alias !== "-" && alias !== bridgeAlias(c.prefix, n.name)) {
    const owner = alias ? `its alias is ${JSON.stringify(alias)}` : "it has no alias";
    failures.push({ property: "bridge", reason: `got ${JSON.stringify(n.bridge)}, an interface that already exists on host ${c.t.target} and is not this network's (${owner}); choose another name` });
  }
  const mine = parseSubnet(n.subnet)!;
  for (const l of lines.filter((x) => x.startsWith("record "))) {
    const json = l.slice(l.indexOf(":", 7) + 1);
    const other = JSON.parse(json) as NetworkSpec;
    if (other.name === n.name) {
      const conflict = ownerConflict(`network ${n.name} under prefix ${c.prefix} on host ${c.t.target}`, other.owner, n.owner, c.adopt);
      if (conflict) failures.push({ property: "name", reason: conflict });
      continue;
    }
    if (overlaps(mine, parseSubnet(other.subnet)!)) {
      failures.push({ property: "subnet", reason: `got ${JSON.stringify(n.subnet)}, which overlaps network ${other.name}'s ${other.subnet} on host ${c.t.target}` });
    }
    if (other.bridge === n.bridge) failures.push({ property: "bridge", reason: `got ${JSON.stringify(n.bridge)}, already the bridge of network ${other.name}` });
  }
  // another prefix's networks on this machine: their subnets are routed by the same kernel
  for (const l of lines.filter((x) => x.startsWith("other "))) {
    const [, prefix = "", ...rest] = l.split(" ");
    let other: NetworkSpec;
    try {
      other = JSON.parse(rest.join(" ")) as NetworkSpec;
    } catch {
      continue;
    }
    // the same resource under another prefix (its host moved: it is replaced, deleting first)
    if (n.owner && other.owner === n.owner) continue;
    const holder = `network ${other.name} under prefix ${prefix} of this machine (${other.owner ? `stack ${stackOf(other.owner)}, ${other.owner}` : "no owner recorded"})`;
    if (other.subnet && overlaps(mine, parseSubnet(other.subnet)!)) {
      failures.push({ property: "subnet", reason: `got ${JSON.stringify(n.subnet)}, which overlaps ${other.subnet} of ${holder} on host ${c.t.target}; choose a free range` });
    }
    if (other.bridge === n.bridge) failures.push({ property: "bridge", reason: `got ${JSON.stringify(n.bridge)}, already the bridge of ${holder}` });
  }
  for (const l of lines.filter((x) => x.startsWith("route "))) {
    const [dst, , dev] = l.slice(6).split(" ");
    if (dev === n.bridge || !dst) continue;
    const route: Subnet | undefined = dst === "default" ? undefined : parseSubnet(dst.includes("/") ? dst : `${dst}/32`);
    if (route && overlaps(mine, route) && !failures.some((f) => f.property === "subnet")) {
      failures.push({ property: "subnet", reason: `got ${JSON.stringify(n.subnet)}, which overlaps the host's route to ${dst} via ${dev} on ${c.t.target}; choose a free range` });
    }
  }
  return failures;
}

interface Observed {
  probe: NetworkProbe;
  missing: boolean;
  drift: string[];
}

const probes: PerResourceReads<Map<string, string>> = new WeakMap();

/** The probe of one network: its own, or one of every recorded network for a burst (see perResource). */
async function probeText(c: Ctx, burst: boolean): Promise<string> {
  const one = () => c.net.probe(c.spec);
  const snap = await c.snapshots.claims();
  const all = () => c.net.probeMany([...snap.networks.values()]);
  // only a record that names the same bridge answers for this network
  return perResource(probes, snap, one, all, (m) => (snap.networks.get(c.spec.name)?.bridge === c.spec.bridge ? m.get(c.spec.name) : undefined), burst);
}

/** `burst`: asked by diff or read, which come for every network at once. */
async function observe(c: Ctx, burst = false): Promise<Observed> {
  const n = c.spec;
  const probe = parseNetworkProbe(await probeText(c, burst));
  const drift: string[] = [];
  if (probe.alias !== bridgeAlias(c.prefix, n.name)) drift.push("alias");
  if (!probe.up) drift.push("up");
  if (probe.addresses.join(" ") !== `${n.gateway}/${n.bits}`) drift.push("gateway");
  // route_localnet follows the containers' loopback ports, not the network's inputs
  if (probe.routeLocalnet !== probe.localnetWanted) drift.push("route_localnet");
  if (!probe.ipForward) drift.push("ip_forward");
  if (probe.brNetfilterOff) drift.push("nf_call_iptables");
  if (!probe.recorded) drift.push("record");
  if (!probe.inSet) drift.push("set");
  const rules = ruleComments(networkOwner(n.name), networkRules(n.bridge, n.subnet, n.nat, n.isolated));
  if (![...rules, ...baseComments].every((x) => probe.comments.has(x))) drift.push("rules");
  if (!guardComments.every((x) => probe.guardComments.has(x))) drift.push("anti-spoofing rules");
  return { probe, missing: !probe.isBridge, drift };
}

function outputs(inputs: Props, c: Ctx, o: Observed): Props {
  const n = c.spec;
  return {
    ...pickInputs(inputs),
    machineId: machineIdentity(c.facts, c.connection),
    bridge: n.bridge, gateway: n.gateway, prefixLength: n.bits, status: o.missing ? "missing" : o.probe.up ? "up" : "down",
  };
}

// Networks of one host are created one at a time by this process, so that two new networks of
// one deployment cannot both pass the overlap check (the engine runs creates in parallel).
const creating = new Map<string, Promise<unknown>>();
function serialized<T>(key: string, f: () => Promise<T>): Promise<T> {
  const run = (creating.get(key) ?? Promise.resolve()).then(f, f);
  creating.set(key, run.catch(() => undefined));
  return run;
}

async function ensure(c: Ctx): Promise<void> {
  try {
    await c.net.ensure(c.spec);
  } finally {
    forgetReads(); // the host's shared reads hold network records
  }
}


/**
 * Names and subnets declared in this program, claimed at check: two networks of one name on one
 * host and prefix, or two overlapping subnets on one host, are refused before either exists.
 */
function claims(c: Ctx, a: NetworkArgs, owner: string | undefined): InputFailure[] {
  if (!owner) return [];
  const host = connectionKey(a.host.connection);
  const failures: InputFailure[] = [];
  for (const other of claim(`network ${host}/${a.host.prefix}`, owner, a.name)) {
    failures.push({ property: "name", reason: `got ${JSON.stringify(a.name)}, also the name of ${other} in this program` });
  }
  const overlap = (x: string, y: string) => overlaps(parseSubnet(x.split(" ")[0]!)!, parseSubnet(y.split(" ")[0]!)!);
  for (const other of claim(`subnet ${host}`, owner, `${c.spec.subnet} ${a.name}`, overlap)) {
    failures.push({ property: "subnet", reason: `got ${JSON.stringify(a.subnet)}, which overlaps the subnet of ${other} in this program on host ${c.t.target}` });
  }
  return failures;
}

export const networkLifecycle: LifecycleImpl = {
  async check(_olds, news): Promise<CheckResult> {
    const inputs = pickInputs(news);
    if (containsUnknown(inputs)) return { inputs };
    const r = parseInput(networkArgs, declared(inputs));
    if (!r.ok) return { failures: r.failures };
    try {
      const c = await context(r.value, ownerOf(inputs));
      const failures = await admission(c, true);
      failures.push(...claims(c, r.value, ownerOf(inputs)));
      if (r.value.ingress) {
        const snap = await c.snapshots.claims();
        const where = `on host ${c.t.target} under prefix ${c.prefix}`;
        failures.push(...ingressFailures("ingress", r.value.ingress, (n) => (snap.addresses.get(n)?.size ?? 0) > 0, (n) => n === r.value.name || snap.networks.has(n), where));
      }
      if (failures.length) return { failures };
      // Defaults filled in, so that a preview shows them and containers' refs carry them.
      return { inputs: { ...inputs, host: r.value.host, gateway: c.spec.gateway, bridge: c.spec.bridge } };
    } catch (e) {
      const failures = unreachableAtCheck(e);
      return failures.length ? { failures } : { inputs: { ...inputs, host: r.value.host } };
    }
  },

  async diff(_id, olds, news): Promise<DiffResult> {
    const n = pickInputs(news);
    if (containsUnknown(n)) return { changes: true };
    const o = parse(olds);
    const a = parse(n);
    const replaces: string[] = replaceKeys.filter((k) => JSON.stringify(networkSpec(o)[k]) !== JSON.stringify(networkSpec(a)[k]));
    if (await hostMoved(olds, o.host, a.host)) replaces.push("host");
    if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
    // the same machine reached another way: the state must learn the new connection
    if (connectionChanged(o.host, a.host)) return { changes: true };
    if (o.nat !== a.nat || o.isolated !== a.isolated || o.dynamicRange !== a.dynamicRange || JSON.stringify(o.ingress) !== JSON.stringify(a.ingress)) return { changes: true };
    const obs = await observe(await context(a), true);
    return { changes: obs.missing || obs.drift.length > 0 };
  },

  async create(inputs) {
    const a = parse(inputs);
    const c = await context(a, ownerOf(inputs));
    return serialized(connectionKey(a.host.connection), async () => {
      const failures = await admission(c);
      if (failures.length) throw new Error(`${c.t.target}: network ${a.name}: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
      // A network of this name already on the host (state lost, another stack) is taken over only
      // if it is the same network: its containers' addresses live in its subnet.
      const record = await c.net.record(a.name);
      if (record !== undefined) {
        const old = JSON.parse(record) as NetworkSpec;
        const conflict = ownerConflict(`network ${a.name} under prefix ${a.host.prefix} on host ${c.t.target}`, old.owner, ownerOf(inputs), a.adopt);
        if (conflict) throw new Error(`${c.t.target}: ${conflict}`);
        if (old.subnet !== c.spec.subnet || old.gateway !== c.spec.gateway || old.bridge !== c.spec.bridge) {
          throw new Error(`${c.t.target}: a network named ${a.name} already exists under prefix ${a.host.prefix} with another subnet, gateway or bridge (${old.subnet}, ${old.gateway}, ${old.bridge}); delete it or choose another name`);
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
    const c = await context(a);
    const o = await observe(c, true);
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
    const seen: Props = { ...props };
    if (props.nat !== undefined || nat) seen.nat = nat;
    if (props.isolated !== undefined || !isolated) seen.isolated = isolated;
    return { id, props: { ...seen, ...outputs(seen, c, o) } };
  },

  async update(_id, _olds, news) {
    const a = parse(news);
    const c = await context(a, ownerOf(news));
    await ensure(c);
    return { outs: outputs(news, c, await observe(c)) };
  },

  async delete(_id, props) {
    const a = parse(props);
    const c = await context(a);
    // taken over by another owner (adopt: true): it is theirs now, and stays
    const record = await c.net.record(a.name);
    const holder = record ? (JSON.parse(record) as NetworkSpec).owner : undefined;
    if (holder && holder !== ownerOf(props)) {
      warn(`${c.t.target}: network ${a.name} under prefix ${a.host.prefix} now belongs to ${holder}; left in place`);
      return;
    }
    const users = await c.net.attached(a.name);
    if (users.length) {
      throw new Error(`${c.t.target}: network ${a.name} still has containers on it: ${users.join(", ")}; delete them or take the network out of their networks first`);
    }
    await c.net.remove(c.spec);
    forgetReads();
  },
};
