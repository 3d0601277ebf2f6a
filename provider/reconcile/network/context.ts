import { kindInputs } from "../kind";
import { networkKind } from "../kinds";
import { parseSubnet } from "../../../schema/ipv4";
import { canonical6, parseSubnet6 } from "../../../schema/ipv6";
import { defaultGateway, defaultGateway6, type NetworkArgs } from "../../../schema/network";
import { hostLayout } from "../../kernel/container/layout";
import type { NetworkSpec } from "../../kernel/network/bridge";
import { defaultBridge } from "../../kernel/network/names";
import { NetworkHost } from "../../kernel/network/host";
import { forgetReads, hostContext, type EngineCall } from "../host-context";

export const { keys: inputKeys, pickInputs, declared, parse } = kindInputs(networkKind);
/** A network's identity on the host: another value is another bridge (and its containers' addresses). */
export const replaceKeys = networkKind.replaces;

/** The declaration with its defaults: the gateway is the subnet's first address, the bridge named after the network. */
export function networkSpec(a: NetworkArgs): NetworkSpec {
  const s = parseSubnet(a.subnet)!;
  const s6 = a.subnet6 === undefined ? undefined : parseSubnet6(a.subnet6)!;
  return {
    name: a.name,
    bridge: a.bridge ?? defaultBridge(a.host.prefix, a.name),
    subnet: a.subnet,
    gateway: a.gateway ?? defaultGateway(a.subnet),
    bits: s.bits,
    nat: a.nat,
    isolated: a.isolated,
    ...(a.dynamicRange ? { dynamicRange: a.dynamicRange } : {}),
    // in the kernel's notation, so that what it shows compares equal
    ...(s6
      ? {
          subnet6: `${canonical6(a.subnet6!.split("/")[0]!)}/${s6.bits}`,
          gateway6: canonical6(a.gateway6 ?? defaultGateway6(a.subnet6!)),
          bits6: s6.bits,
          ...(a.dynamicRange6 ? { dynamicRange6: `${canonical6(a.dynamicRange6.split("/")[0]!)}/${a.dynamicRange6.split("/")[1]!}` } : {}),
        }
      : {}),
    ...(a.ingress ? { ingress: a.ingress } : {}),
  };
}

export async function context(a: NetworkArgs, call: EngineCall, owner?: string) {
  const h = await hostContext(a.host, call);
  return {
    t: h.t,
    net: new NetworkHost(h.t, a.host.prefix),
    facts: h.facts,
    connection: a.host.connection,
    layout: hostLayout(a.host.prefix),
    spec: { ...networkSpec(a), ...(owner ? { owner } : {}) },
    prefix: a.host.prefix,
    adopt: a.adopt,
    view: h.view,
    snapshots: h.view.snapshots(a.host.runtime),
  };
}
export type Ctx = Awaited<ReturnType<typeof context>>;

export async function ensure(c: Ctx): Promise<void> {
  try {
    await c.net.ensure(c.spec);
  } finally {
    forgetReads(); // the host's shared reads hold network records
  }
}
