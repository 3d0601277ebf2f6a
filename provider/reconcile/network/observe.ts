import { parseNetworkProbe, type NetworkProbe } from "../../kernel/network/bridge";
import { guardComments } from "../../kernel/network/guard";
import { bridgeAlias, networkOwner } from "../../kernel/network/names";
import { baseComments, baseComments6, networkRules, networkRules6, ruleComments } from "../../kernel/network/nft";
import { machineIdentity } from "../host-identity";
import type { Inputs, State } from "../kind";
import type { networkKind } from "../kinds";
import { pickInputs, type Ctx } from "./context";

export interface Observed {
  probe: NetworkProbe;
  missing: boolean;
  drift: string[];
}

/** The network as the kernel shows it: from one probe of every network in a diff's or read's burst (HostView.networkProbe). */
export async function observe(c: Ctx): Promise<Observed> {
  const n = c.spec;
  const snap = await c.snapshots.claims();
  const text = await c.view.networkProbe(
    snap,
    n,
    () => c.net.probe(n),
    () => c.net.probeMany([...snap.networks.values()]),
  );
  const probe = parseNetworkProbe(text);
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
  if (n.subnet6) {
    if (probe.addresses6.join(" ") !== `${n.gateway6}/${n.bits6}`) drift.push("gateway6");
    if (!probe.ipForward6) drift.push("ipv6 forwarding");
    if (probe.brNetfilter6Off) drift.push("nf_call_ip6tables");
    const rules6 = ruleComments(networkOwner(n.name), networkRules6(n.bridge, n.subnet6, n.nat, n.isolated));
    if (![...rules6, ...baseComments6].every((x) => probe.comments6.has(x))) drift.push("ipv6 rules");
  }
  return { probe, missing: !probe.isBridge, drift };
}

export function outputs(inputs: Inputs<typeof networkKind>, c: Ctx, o: Observed): State<typeof networkKind> {
  const n = c.spec;
  return {
    ...pickInputs(inputs),
    machineId: machineIdentity(c.facts, c.connection),
    bridge: n.bridge,
    gateway: n.gateway,
    prefixLength: n.bits,
    ...(n.gateway6 ? { gateway6: inputs.gateway6 ?? n.gateway6 } : {}),
    status: o.missing ? "missing" : o.probe.up ? "up" : "down",
  };
}
