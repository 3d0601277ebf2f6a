import { createHash } from "node:crypto";
import type { ContainerArgs } from "../../../schema/container";
import { resolveBlockDevices } from "../../kernel/block-devices";
import { hostLayout, type HostLayout } from "../../kernel/container/layout";
import { lxcfsDir } from "../../kernel/container/lxcfs";
import { ociSpec, specBeforeHostname, specBeforeProcViews } from "../../kernel/container/oci-spec";
import { OciRuntime } from "../../kernel/container/runtime";
import { writeBundleFiles, type BundleFile } from "../../kernel/container/files";
import { containerSite, runOperation, type ContainerSite } from "../../kernel/container/operations";
import type { Made, SnapshotCache } from "../../kernel/container/snapshot";
import type { Pause, PauseHook, Step } from "../../kernel/transaction";
import { chooseRuntime, recursiveReadOnly } from "../../kernel/host-facts";
import type { Transport } from "../../transport/transport";
import { hostContext, type EngineCall, type HostContext } from "../host-context";

/** Where one container lives: its host, runtime, cgroup path and bundle, and the host's shared reads. */
export interface Ctx {
  h: HostContext;
  /** the host's transport (h.t) */
  t: Transport;
  prefix: string;
  layout: HostLayout;
  runtime: OciRuntime;
  /** cgroup path below the prefix */
  path: string;
  bundle: string;
  log: string;
  snapshots: SnapshotCache;
}

export async function context(a: ContainerArgs, call: EngineCall): Promise<Ctx> {
  const h = await hostContext(a.host, call);
  const chosen = chooseRuntime(h.facts, a.host.runtime ?? "auto");
  if ("error" in chosen) throw new Error(`${h.t.target}: ${chosen.error}`);
  const layout = hostLayout(a.host.prefix);
  const runtime = new OciRuntime(h.t, chosen.runtime.name, layout.runtimeRoot);
  const snapshots = h.view.snapshots(a.host.runtime);
  const bundle = layout.bundle(a.name);
  return { h, t: h.t, prefix: a.host.prefix, layout, runtime, path: a.parent ? `${a.parent}/${a.name}` : a.name, bundle, log: `${bundle}/log`, snapshots };
}

/** The OCI spec of the declaration; uidBase: the container's user-namespace range (uidBaseOf, ensureRange), if it has one. */
export function specOf(a: ContainerArgs, c: Ctx, uidBase: number | undefined): Record<string, unknown> {
  return ociSpec(a, {
    cgroupsPath: `/${a.host.prefix}/${c.path}`,
    cgroupVersion: c.h.cgroups.version,
    nofileHard: c.h.facts.nofileHard,
    etc: { resolvConf: `${c.bundle}/resolv.conf`, hosts: `${c.bundle}/hosts`, hostname: `${c.bundle}/hostname` },
    userNamespaceBase: uidBase,
    recursiveReadOnly: recursiveReadOnly(c.h.facts, c.runtime.name),
    lxcfs: a.procViews ? lxcfsDir(c.layout) : undefined,
  });
}

/**
 * Hash of a runtime config, to tell an init started from another declaration. The RLIMIT_NOFILE
 * ceiling is left out: it is the starting process's own hard limit (root here cannot raise it),
 * which differs between shells, and must not make an `up` from another shell restart containers.
 */
export const hash = (spec: unknown) => {
  const p = (spec as { process?: { rlimits?: unknown } }).process;
  const v = p?.rlimits ? { ...(spec as object), process: { ...p, rlimits: undefined } } : spec;
  return createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);
};
/** The hash kslice.json recorded before the rlimit was left out (bundles made by older kslice). */
const legacyHash = (spec: unknown) => createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 16);

/**
 * Does a recorded (or running) config's hash name this spec? A container made before /etc/hostname
 * was mounted runs the same declaration: it gets the mount at its next start, not a restart now.
 */
export function sameSpec(recorded: string | undefined, spec: Record<string, unknown>, legacy = false): boolean {
  const withViews = [spec, specBeforeProcViews(spec)].filter((f) => f !== undefined);
  const forms = withViews.flatMap((f) => [f, specBeforeHostname(f)].filter((g) => g !== undefined));
  return forms.some((f) => recorded === hash(f) || (legacy && recorded === legacyHash(f)));
}

/** Writes bundle files in one command, their contents over stdin (config.json holds secrets). */
export const putFiles = (c: Ctx, files: BundleFile[]) => writeBundleFiles(c.t, files);

/** Writes one bundle file, renamed into place (the supervisor may be running it). */
export const putFile = (c: Ctx, path: string, content: string) => putFiles(c, [{ path, content }]);

/** What the cgroup driver's plan needs of the host: the period and the declared block devices' numbers. */
export async function planCtx(c: Ctx, a: ContainerArgs) {
  return {
    periodUs: 100_000,
    devices: await resolveBlockDevices(
      c.t,
      (a.limits.io?.devices ?? []).map((d) => d.device),
    ),
  };
}

export const site = (c: Ctx, name: string): ContainerSite => containerSite(c.h.cgroups, c.prefix, c.layout, c.runtime.name, name, c.path);

/** Runs one operation's script on the container's host; its failure reads `<host>: container <name>: <step>: <stderr>`. */
export async function operate(c: Ctx, name: string, steps: (Step | Pause)[], hook?: PauseHook, made?: Made): Promise<string> {
  let ok = false;
  try {
    const out = await runOperation(c.t, steps, hook);
    ok = true;
    return out;
  } catch (e) {
    throw new Error(`${c.t.target}: container ${name}: ${(e as Error).message}`, { cause: e });
  } finally {
    // a create that succeeded says what it claimed; anything else is read again
    if (ok && made) c.snapshots.made(made);
    else c.snapshots.invalidate();
    c.h.cgroups.invalidate();
  }
}
