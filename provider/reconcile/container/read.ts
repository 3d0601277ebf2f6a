import { attachmentName } from "../../../schema/container-network";
import { observedInputs } from "../limits-observed";
import type { Inputs, Refreshed, State } from "../kind";
import { context, planCtx } from "./context";
import { parse, type Ct } from "./inputs";
import { carried } from "./move-records";
import { observe, outputs } from "./observe";
import { isLive } from "./status";

/** The container as the kernel shows it, in the user's terms; {} when it is gone. */
export async function readContainer(id: string, props: State<Ct>): Promise<Refreshed<Ct>> {
  const a = parse(props);
  const c = await context(a, "read");
  // the config's hash is no output: read needs none (the state's pid spares it)
  const seen = await observe(c, a, undefined, props.pid);
  if (seen.status === "missing") return {};
  const live = isLive(seen.status);
  // Shown in the user's terms: left out when it was left out and the kernel agrees with the default.
  const state = props.state === undefined && live ? undefined : live ? "running" : "stopped";
  let limits = props.limits;
  if (live) {
    const files = await c.h.cgroups.read(c.path);
    const pc = await planCtx(c, a);
    const drift = c.h.cgroups.drift(c.h.cgroups.plan(a.limits, pc), files);
    if (drift.length) {
      limits = observedInputs(
        props.limits,
        drift.map((d) => d.setting),
        c.h.cgroups.observe(files, pc),
      );
    }
  }
  // A network the container is not on as declared (veth gone, address removed) reads as left;
  // published ports whose rules are gone read as none.
  const net: Pick<Inputs<Ct>, "networks" | "ports"> = {};
  const left = seen.net?.attachments ?? [];
  if (left.length) {
    const kept = a.networks.filter((_, i) => !left.includes(i)).map(attachmentName);
    net.networks = props.networks!.filter((_, i) => !left.includes(i));
    // ports that went with their network (or with the last one) cannot be shown either
    net.ports = (props.ports ?? []).filter((p) => kept.length && (p.network ? kept.includes(p.network) : kept[0] === attachmentName(a.networks[0]!)));
  }
  if (seen.net?.ports) net.ports = [];
  // a sysctl changed by hand reads as the kernel's value (one it cannot read, as not set)
  const sysctls = seen.sysctls.size
    ? Object.fromEntries(
        Object.entries(a.sysctls).flatMap(([k, v]) => (seen.sysctls.has(k) ? (seen.sysctls.get(k) ? [[k, seen.sysctls.get(k)!]] : []) : [[k, v]])),
      )
    : undefined;
  return {
    id,
    props: { ...outputs(a, props, c, seen), ...(state ? { state } : {}), ...(limits !== undefined ? { limits } : {}), ...(sysctls ? { sysctls } : {}), ...net },
  };
}

/** read, with the migration's outputs kept (lastMigration, leftBehind). */
export async function read(id: string, props: State<Ct>): Promise<Refreshed<Ct>> {
  const r = await readContainer(id, props);
  return r.props ? { ...r, props: { ...r.props, ...carried(props) } } : r;
}
