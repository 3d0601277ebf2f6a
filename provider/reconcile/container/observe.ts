import type { ContainerArgs } from "../../../schema/container";
import { attachmentName } from "../../../schema/container-network";
import { parseReport } from "../../kernel/container/operations";
import { expectedSecurity, parseSecurity, readSpecAndInit, securityDrift } from "../../kernel/container/security";
import type { ContainerSnapshot } from "../../kernel/container/snapshot";
import { sysctlDrift } from "../../kernel/container/sysctl";
import { machineIdentity } from "../host-identity";
import type { Inputs, State } from "../kind";
import type { Ct } from "./inputs";
import { hash, planCtx, sameSpec, specOf, type Ctx } from "./context";
import { diskDrift } from "./disk";
import { pickInputs } from "./inputs";
import { hasNetworking, observeNet } from "./network";
import { procViewsStale } from "./proc";
import { isLive, type Observed } from "./status";
import { uidBaseOf } from "./userns";

/**
 * `recordedPid`: the pid the state holds, given by diff and read. The config an init runs from is
 * then read only when the live pid is another (the only case its hash is compared), and the rest
 * comes from reads of every container, shared by the burst of diffs or reads (HostView).
 */
export async function observe(c: Ctx, a: ContainerArgs, snap?: ContainerSnapshot, recordedPid?: unknown): Promise<Observed> {
  const s = snap ?? (await c.snapshots.get());
  const st = s.states.get(a.name);
  // a paused (frozen) container keeps its init and its pid: observed as it is, thawed by update
  const live = isLive(st?.status);
  const net = hasNetworking(a) ? await observeNet(c.h.view, a, live ? st!.pid : undefined, s) : undefined;
  const addresses = net?.addresses ?? new Map<string, string>();
  const uidBase = uidBaseOf(a, s);
  if (!st)
    return {
      status: s.bundles.has(a.name) ? "stopped" : "missing",
      pid: 0,
      startedAt: "",
      specHash: undefined,
      usage: undefined,
      addresses,
      net: undefined,
      uidBase,
      security: [],
      sysctls: new Map(),
    };
  const [config, status, uidMap, uptime] = !live
    ? [undefined, undefined, undefined, undefined]
    : recordedPid === undefined || recordedPid !== st.pid
      ? await readSpecAndInit(c.t, c.layout, a.name, st.pid)
      : [undefined, ...(await c.h.view.initFiles(s, a.name, st.pid))];
  // what the kernel shows of the init, not what config.json says
  const sec = parseSecurity(status, uidMap);
  return {
    status: st.status as Observed["status"],
    pid: live ? st.pid : 0,
    startedAt: st.created,
    specHash: config === undefined ? undefined : hash(JSON.parse(config)),
    usage: live && a.reportUsage ? await c.h.cgroups.usage(c.path) : undefined,
    addresses,
    net: net?.drift,
    uidBase,
    security: sec ? securityDrift(expectedSecurity(specOf(a, c, uidBase)), sec) : [],
    sysctls: live ? await observeSysctls(c, a, st.pid) : new Map(),
    procViewsStale: procViewsStale(a, status, uptime),
  };
}

/** Declared sysctls as the init's namespaces hold them; an init gone meanwhile holds none of them. */
export async function observeSysctls(c: Ctx, a: ContainerArgs, pid: number): Promise<Map<string, string>> {
  return sysctlDrift(c.t, pid, a.sysctls).catch(() => new Map(Object.keys(a.sysctls).map((k) => [k, ""])));
}

/** The outputs: the inputs as given, and what the kernel shows. */
export function outputs(a: ContainerArgs, inputs: Inputs<Ct>, c: Ctx, seen: Observed): State<Ct> {
  return {
    ...pickInputs(inputs),
    runtimeId: a.name,
    machineId: machineIdentity(c.h.facts, a.host.connection),
    runtime: c.runtime.name,
    status: seen.status,
    pid: seen.pid,
    startedAt: seen.startedAt,
    cgroupPath: c.path,
    bundlePath: c.bundle,
    logPath: c.log,
    usage: seen.usage ?? null,
    /** network name → address */
    addresses: Object.fromEntries(a.networks.map((n) => [attachmentName(n), seen.addresses.get(attachmentName(n)) ?? null])),
    address: seen.addresses.get(a.networks[0] ? attachmentName(a.networks[0]) : "") ?? null,
    address6: seen.addresses.get(a.networks[0] ? `${attachmentName(a.networks[0])}/6` : "") ?? null,
    /** What of the running init's security the kernel shows otherwise than declared; up restarts it from the declaration. */
    securityDrift: seen.security,
  };
}

/**
 * Which declared inputs the kernel does not hold (the running state, the init, networks, ports,
 * security, limits): none when it holds them all. The keys are shown in the engine's diff
 * (diff-detail.ts), so a plain preview says why an update happens.
 */
export async function drifted(c: Ctx, a: ContainerArgs, recordedPid: unknown): Promise<string[]> {
  const seen = await observe(c, a, undefined, recordedPid);
  // records a power loss emptied: up rewrites them, running or stopped
  if ((await c.snapshots.get()).damaged.has(a.name)) return ["status"];
  if (a.state === "stopped") return seen.status === "running" || seen.status === "created" || seen.status === "missing" ? ["state"] : [];
  if (seen.status !== "running") return ["status"];
  // The init was replaced behind kslice's back: another pid, started from another config.
  if (seen.pid !== recordedPid && !sameSpec(seen.specHash, specOf(a, c, seen.uidBase))) return ["state"];
  const keys: string[] = [];
  if (seen.net?.attachments.length) keys.push("networks");
  if (seen.net?.ports) keys.push("ports");
  if (seen.security.length) keys.push("security");
  if (seen.sysctls.size) keys.push("sysctls");
  if (seen.procViewsStale) keys.push("procViews");
  const files = await c.h.cgroups.read(c.path);
  if (c.h.cgroups.drift(c.h.cgroups.plan(a.limits, await planCtx(c, a)), files).length > 0) keys.push("limits");
  if (await diskDrift(c.t, c.bundle, a)) keys.push("disk");
  return keys;
}

/** What a create's (or start's) script reported of the kernel, as observe would find it. */
export async function observedFromReport(
  c: Ctx,
  a: ContainerArgs,
  spec: ReturnType<typeof specOf>,
  uidBase: number | undefined,
  addresses: Map<string, string>,
  out: string,
): Promise<Observed> {
  const r = parseReport(out);
  const st = r.state;
  const live = isLive(st?.status);
  const sec = live ? parseSecurity(r.status, r.uidMap) : undefined;
  return {
    status: (st?.status ?? "stopped") as Observed["status"],
    pid: live ? st!.pid : 0,
    startedAt: st?.created ?? "",
    specHash: live ? hash(spec) : undefined,
    usage: live && a.reportUsage ? await c.h.cgroups.usage(c.path) : undefined,
    addresses,
    net: undefined,
    uidBase,
    security: sec ? securityDrift(expectedSecurity(spec), sec) : [],
    // applied by the runtime from the spec at create
    sysctls: new Map(),
  };
}
