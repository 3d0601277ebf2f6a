import type { ContainerArgs } from "../../../schema/container";
import { readBundleRecord } from "../../kernel/container/bundle-state";
import { createSteps, templateMissing } from "../../kernel/container/operations";
import { lostRace } from "../../kernel/network/allocate";
import { baseOf, ensureLower, lowerOf } from "../../kernel/container/rootfs";
import type { ClaimsSnapshot, ContainerSnapshot } from "../../kernel/container/snapshot";
import { connectionKey } from "../../kernel/connection";
import { StepError } from "../../kernel/transaction";
import { ownerConflict, ownerOf, recordedOwner } from "../ownership";
import type { Created, Inputs } from "../kind";
import { pauseHook } from "../test-hooks";
import { decideNet, decideRange } from "./allocate";
import { context, hash, operate, sameSpec, site, specOf, type Ctx } from "./context";
import { parse, type Ct } from "./inputs";
import { migratedHere } from "./move-records";
import { hasNetworking } from "./network";
import { observe, observedFromReport, outputs } from "./observe";
import type { Observed } from "./status";
import { incompleteBundle, recordOf, recordOwner, removeContainer, repairRecords, start, startFiles, stop } from "./steps";
import { ensureRange, uidBaseOf } from "./userns";

const idOf = (a: ContainerArgs) => `${connectionKey(a.host.connection)}/${a.host.prefix}/${a.name}`;

/** Makes the container on its host in one script, or takes over the one of that name a lost state left there. */
export async function createContainer(inputs: Inputs<Ct>): Promise<Created<Ct>> {
  const a = parse(inputs);
  const c = await context(a, "create");
  // decided from the claims alone (no runtime list: a create of hundreds would read it for each)
  let snap = await c.snapshots.claims();
  if (snap.bundles.has(a.name) || snap.runtimeIds.has(a.name)) {
    // a create killed half-way: what it made goes, and this create makes it again from the start
    const left = await incompleteBundle(c, a.name);
    if (left === undefined) return adopt(c, a, inputs, specOf(a, c, uidBaseOf(a, snap)), await c.snapshots.get());
    await removeContainer(c.h, c.runtime, c.prefix, a.name, left);
    c.snapshots.invalidate();
    snap = await c.snapshots.claims();
  }
  // One script makes the whole container (operations.ts createSteps), undoing its own steps when
  // one fails. The prefix's shared setup (its dirs, root cgroups, templates) stays: a sibling
  // created in parallel may already use it. Host delete removes it, and a kept template is a
  // cache the next create reuses. A claim lost to a create of another process (the snapshot was
  // stale) fails that script cleanly: read again, choose again.
  for (let attempt = 1; ; attempt++) {
    try {
      const seen = await createOnce(c, a, inputs, snap);
      return { id: idOf(a), outs: outputs(a, inputs, c, seen) };
    } catch (e) {
      const step = (e as Error).cause;
      if (step instanceof StepError && step.exitCode === templateMissing && attempt <= 2) {
        // rare: the template is built apart (minutes, under its own lock), then the create runs again
        await ensureLower(c.t, c.layout, a.rootfs).catch((err: Error) => {
          throw new Error(`${c.t.target}: container ${a.name}: ${err.message}`, { cause: err });
        });
      } else if (!(step instanceof StepError && step.exitCode === lostRace && attempt <= 5)) throw e;
      snap = await c.snapshots.claims();
    }
  }
}

/** create, with the migration's outputs: a bundle a migration brought keeps its record. */
export async function create(inputs: Inputs<Ct>): Promise<Created<Ct>> {
  const a = parse(inputs);
  const existed = (await (await context(a, "create")).snapshots.claims()).bundles.has(a.name);
  const r = await createContainer(inputs);
  const lastMigration = existed ? await migratedHere(a, ownerOf(inputs)) : null;
  return { ...r, outs: { ...r.outs, lastMigration, leftBehind: [] } };
}

/** One try of a create: decisions from the snapshot, then one script. */
async function createOnce(c: Ctx, a: ContainerArgs, inputs: Inputs<Ct>, snap: ClaimsSnapshot): Promise<Observed> {
  const releases: (() => void)[] = [];
  try {
    const uid = decideRange(c, a, snap);
    if (uid) releases.push(uid.release);
    const spec = specOf(a, c, uid?.base);
    const lower = lowerOf(c.layout, a.rootfs);
    const running = a.state === "running";
    const net =
      running || hasNetworking(a)
        ? await decideNet(c, a, snap).catch((e: Error) => {
            throw new Error(`${c.t.target}: container ${a.name}: ${e.message}`, { cause: e });
          })
        : undefined;
    if (net) releases.push(net.release);
    const record = recordOf(c, a, ownerOf(inputs), uid?.base);
    const out = await operate(
      c,
      a.name,
      createSteps(site(c, a.name), {
        cgroupPath: c.path,
        lower,
        template: !("path" in baseOf(a.rootfs)),
        restore: "backup" in a.rootfs ? a.rootfs.backup.file : undefined,
        uid: uid && { base: uid.base, index: uid.index },
        record,
        netFiles: !running && net ? net.files : [],
        net: net?.claims,
        start: running ? { files: await startFiles(c, a, uid?.base, net!.files), uidBase: uid?.base } : undefined,
        disk: a.disk && { bytes: a.disk.max, inodes: a.disk.inodes },
      }),
      pauseHook(),
      { name: a.name, record, started: running, addresses: net?.claims ? net.addresses : new Map(), rangeIndex: uid?.index },
    );
    return await observedFromReport(c, a, spec, uid?.base, net?.addresses ?? new Map(), out);
  } finally {
    releases.forEach((r) => r());
  }
}

/**
 * A container of this name is already on the host (state lost, or the provider killed mid-create).
 * If it was made from the same declaration, take it over without restarting it; otherwise refuse.
 */
async function adopt(c: Ctx, a: ContainerArgs, inputs: Inputs<Ct>, spec: ReturnType<typeof specOf>, snap: ContainerSnapshot): Promise<Created<Ct>> {
  const meta = await readBundleRecord(c.t, c.bundle);
  const conflict = ownerConflict(`container ${a.name} under prefix ${a.host.prefix} on host ${c.t.target}`, recordedOwner(meta), ownerOf(inputs), a.adopt);
  if (conflict) throw new Error(`${c.t.target}: ${conflict}`);
  // kslice.json lost to a power loss: owner and declaration unknown, so taken as ownerless and
  // rebuilt from this declaration (its writable layer kept)
  const recordLost = snap.damaged.get(a.name)?.includes("kslice.json") ?? false;
  const recorded = recordLost ? hash(spec) : meta ? (JSON.parse(meta) as { specHash?: string }).specHash : undefined;
  if (!sameSpec(recorded, spec, true)) {
    throw new Error(
      `${c.t.target}: a container named ${a.name} already exists under prefix ${a.host.prefix} with another declaration; delete it or choose another name`,
    );
  }
  if (await repairRecords(c, a, ownerOf(inputs))) {
    c.snapshots.invalidate();
    snap = await c.snapshots.get();
  }
  // its range becomes a claim (a container made before ranges were allocated keeps its hashed one)
  await ensureRange(c.t, c.layout, a, snap);
  if (ownerOf(inputs) && recordedOwner(meta) !== ownerOf(inputs)) await recordOwner(c, ownerOf(inputs)!);
  const seen = await observe(c, a, snap);
  if (a.state === "running" && seen.status !== "running") await start(c, a);
  if (a.state === "stopped" && seen.status === "running") await stop(c, a);
  c.snapshots.invalidate();
  return { id: idOf(a), outs: outputs(a, inputs, c, await observe(c, a)) };
}
