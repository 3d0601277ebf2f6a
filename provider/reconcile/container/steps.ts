import type { ContainerArgs } from "../../../schema/container";
import { readBundleRecord, readIncompleteBundles } from "../../kernel/container/bundle-state";
import type { BundleFile } from "../../kernel/container/files";
import { hostLayout } from "../../kernel/container/layout";
import { nofileLimit } from "../../kernel/container/oci-spec";
import {
  containerSite,
  markStoppedSteps,
  networkSteps,
  removeContainerFromHost,
  startContainerSteps,
  stopContainerSteps,
} from "../../kernel/container/operations";
import type { OciRuntime } from "../../kernel/container/runtime";
import { baseOf, lowerOf } from "../../kernel/container/rootfs";
import { startShFile } from "../../kernel/container/scripts";
import type { HostContext } from "../host-context";
import { decideNet } from "./allocate";
import { hash, operate, planCtx, putFile, site, specOf, type Ctx } from "./context";
import { hasNetworking } from "./network";
import { ensureRange } from "./userns";

// What the operations share: a start from the bundle's files, a stop, the networks' claims and
// files, the bundle's records, and the removal of everything a container has.

/** The files a start runs from, written on every start, so the declaration (not an edited bundle) runs. */
export async function startFiles(c: Ctx, a: ContainerArgs, uidBase: number | undefined, netFiles: BundleFile[]): Promise<BundleFile[]> {
  return [
    ...netFiles,
    { path: `${c.bundle}/config.json`, content: JSON.stringify(specOf(a, c, uidBase), null, 2) },
    await startFile(c, a),
    { path: `${c.bundle}/restart`, content: a.restartPolicy },
    { path: `${c.bundle}/logmax`, content: String(a.logMaxSize) },
  ];
}

/**
 * start.sh with the declared limits (so a restart by the supervisor writes them too) and the
 * rootfs's overlay (so a start after a reboot mounts it again).
 */
export async function startFile(c: Ctx, a: ContainerArgs): Promise<BundleFile> {
  const writes = c.h.cgroups.plan(a.limits, await planCtx(c, a)).map((s) => ({
    key: `limits.${s.key}`,
    path: `${c.h.cgroups.dir(s.controller, c.path)}/${s.file}`,
    value: s.value,
  }));
  const net = hasNetworking(a) ? `${c.bundle}/net.sh` : undefined;
  return startShFile(
    c.runtime.name,
    c.layout,
    a.name,
    writes,
    nofileLimit(c.h.facts.nofileHard),
    net,
    lowerOf(c.layout, a.rootfs),
    a.procViews ? { prefix: c.prefix } : undefined,
  );
}

/**
 * Starts the container from its bundle with the same script the host's supervisor uses to restart
 * it, its files written from the declaration first (claims it holds are kept; new ones made).
 * `filesOnly`: the files alone. One command.
 */
export async function start(c: Ctx, a: ContainerArgs, filesOnly = false, rebuild?: { owner: string | undefined }, restoreFrom?: string): Promise<void> {
  const snap = await c.snapshots.claims();
  const uidBase = a.security.userNamespace ? await ensureRange(c.t, c.layout, a, snap) : undefined;
  const net = await decideNet(c, a, snap);
  try {
    const files = await startFiles(c, a, uidBase, net.files);
    // a damaged bundle's kslice.json too, as its create wrote it (see repairRecords)
    if (rebuild) files.push({ path: `${c.bundle}/kslice.json`, content: recordOf(c, a, rebuild.owner, uidBase) });
    await operate(c, a.name, startContainerSteps(site(c, a.name), { files, uidBase, net: net.claims, restoreFrom }, filesOnly));
  } finally {
    net.release();
  }
}

/** kslice.json as a create writes it: the spec's hash, the lower, the owner, the uid base, the rootfs (what a backup's restore builds its lower from). */
export function recordOf(c: Ctx, a: ContainerArgs, owner: string | undefined, uidBase: number | undefined): string {
  return JSON.stringify({
    specHash: hash(specOf(a, c, uidBase)),
    lower: lowerOf(c.layout, a.rootfs),
    owner,
    ...(uidBase === undefined ? {} : { uidBase }),
    rootfs: baseOf(a.rootfs),
  });
}

/**
 * A bundle whose records a power loss left empty or unreadable (snapshot.ts `damaged`; boot.sh
 * did not start it and said so) is rebuilt from the declaration in one command: kslice.json,
 * config.json, start.sh, net.sh and the rest of a start's files, and the claims it holds. Its
 * writable layer (upper) is kept: start.sh mounts it again.
 */
export async function repairRecords(c: Ctx, a: ContainerArgs, owner: string | undefined): Promise<boolean> {
  if (!(await c.snapshots.claims()).damaged.has(a.name)) return false;
  await start(c, a, true, { owner });
  return true;
}

/** Claims and network files from the declaration; with `joinPid`, joins the running init to them live. */
export async function prepareNet(c: Ctx, a: ContainerArgs, joinPid?: number): Promise<void> {
  const net = await decideNet(c, a, await c.snapshots.claims());
  try {
    await operate(c, a.name, networkSteps(site(c, a.name), net.claims, net.files, joinPid));
  } finally {
    net.release();
  }
}

/** Tells the supervisor that the coming exit is asked for (see operations.ts markStopped). */
export const markStopped = (c: Ctx) => operate(c, c.bundle.split("/").pop()!, markStoppedSteps(site(c, c.bundle.split("/").pop()!)));

/**
 * Removes everything a container has on the host, whatever state it is in (complete, or left by a
 * killed create): runtime state and processes, cgroup (`path` below the prefix), veths and rules,
 * address and port claims, the rootfs mount and the bundle. Idempotent; one command.
 */
export async function removeContainer(h: HostContext, runtime: OciRuntime, prefix: string, name: string, path: string, graceMs = 0): Promise<void> {
  const s = containerSite(h.cgroups, prefix, hostLayout(prefix), runtime.name, name, path);
  try {
    await removeContainerFromHost(h.t, s, graceMs);
  } catch (e) {
    throw new Error(`${h.t.target}: container ${name}: ${(e as Error).message}`, { cause: e });
  } finally {
    h.cgroups.invalidate();
  }
}

/**
 * A bundle whose create never finished (the provider killed: the "creating" marker is still
 * there, or kslice.json was never written) gives the cgroup path it was made for; a complete
 * bundle, or none, gives undefined.
 */
export async function incompleteBundle(c: Ctx, name: string): Promise<string | undefined> {
  const left = (await readIncompleteBundles(c.t, c.layout, name)).get(name);
  return left === undefined ? undefined : left || c.path;
}

/**
 * Stops the container: its init (thawed first, SIGTERM, SIGKILL after the grace), runtime state and
 * cgroup go, and its port rules (a stopped container's ports forward nowhere, whatever the new
 * declaration says: an update may stop it and drop its ports at once); claims and bundle stay.
 */
export async function stop(c: Ctx, a: ContainerArgs): Promise<void> {
  await operate(c, a.name, stopContainerSteps(site(c, a.name), a.stopGraceSeconds * 1000));
}

/** Writes the owner into the bundle's record (a container made before ownership was recorded). */
export const recordOwner = (c: Ctx, owner: string) => amendRecord(c, { owner });

/** Writes the hash of the spec the container now runs from into the bundle's record. */
export const recordSpecHash = (c: Ctx, specHash: string) => amendRecord(c, { specHash });

export async function amendRecord(c: Ctx, fields: Record<string, string>): Promise<void> {
  const meta = await readBundleRecord(c.t, c.bundle);
  if (meta !== undefined) await putFile(c, `${c.bundle}/kslice.json`, JSON.stringify({ ...(JSON.parse(meta) as object), ...fields }));
}
