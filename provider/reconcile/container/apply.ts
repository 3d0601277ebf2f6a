import type { ContainerArgs } from "../../../schema/container";
import { attachmentName } from "../../../schema/container-network";
import { filesAndSupervisorSteps } from "../../kernel/container/operations";
import { writeSysctls } from "../../kernel/container/sysctl";
import { releaseAddresses } from "../../kernel/network/allocate";
import { releasePorts } from "../../kernel/network/port-claims";
import { removedLimits } from "../limits";
import { ownerOf } from "../ownership";
import type { Inputs, State, Updated } from "../kind";
import { context, hash, operate, planCtx, putFiles, sameSpec, site, specOf, type Ctx } from "./context";
import { applyDisk } from "./disk";
import { parse, type Ct } from "./inputs";
import { hasNetworking } from "./network";
import { observe, outputs } from "./observe";
import { procViewsRestart } from "./proc";
import { disrupting } from "./rolling";
import { markStopped, prepareNet, recordOwner, recordSpecHash, repairRecords, start, startFile, stop } from "./steps";

/**
 * Brings the container where it is to the new declaration, live where the kernel allows (limits,
 * sysctls, networks, the running state) and by a restart where it does not. Also the repair of
 * drift: `olds` and `news` may be one declaration.
 */
export async function applyDeclaration(olds: State<Ct>, news: Inputs<Ct>): Promise<Updated<Ct>> {
  const o = parse(olds);
  const a = parse(news);
  const c = await context(a, "update");
  if (await repairRecords(c, a, ownerOf(news))) c.snapshots.invalidate();
  // a grow is live; a shrink (or a filesystem grown by hand) stops it here, and the start below follows
  if (await applyDisk(c.t, c.bundle, a, (await observe(c, a)).status === "running", () => stop(c, a))) c.snapshots.invalidate();
  const now = await observe(c, a);
  if (a.state === "running" && now.status === "paused") {
    // frozen behind kslice's back: thawed, the same init goes on
    await c.runtime.resume(a.name);
    now.status = "running";
  }
  if (a.state === "stopped") {
    // an init that already exited (a crash waiting for its restart) is stopped too: marked, so
    // that neither the supervisor nor a boot starts it again
    if (now.status !== "missing") await stop(c, a);
    else await markStopped(c);
  } else if (
    now.status !== "running" ||
    (now.pid !== olds.pid && !sameSpec(now.specHash, specOf(a, c, now.uidBase))) ||
    now.security.length ||
    sysctlRemoved(o, a) ||
    procViewsRestart(o, a, now)
  ) {
    // a removed sysctl restarts: its namespace's default is known only to a new namespace
    if (now.status !== "running") await start(c, a);
    else
      await disrupting(news, async () => {
        await stop(c, a);
        await start(c, a);
      });
  } else {
    // changed or drifted sysctls are written live, then into the spec a restart runs from
    if (now.sysctls.size) await writeSysctls(c.t, now.pid, Object.fromEntries([...now.sysctls.keys()].map((k) => [k, a.sysctls[k]!])));
    if (sysctlsChanged(o, a)) await putFiles(c, [{ path: `${c.bundle}/config.json`, content: JSON.stringify(specOf(a, c, now.uidBase), null, 2) }]);
    const pc = await planCtx(c, { ...a, limits: { io: { devices: [...(a.limits.io?.devices ?? []), ...(o.limits.io?.devices ?? [])] } } });
    const files = await c.h.cgroups.read(c.path);
    const wanted = c.h.cgroups.drift(c.h.cgroups.plan(a.limits, pc), files).map((d) => d.setting);
    await c.h.cgroups.apply(c.path, a.parent ?? "", [...c.h.cgroups.reset(removedLimits(o.limits, a.limits), pc), ...wanted]);
    // a restart by the supervisor (or a boot) must write the new limits, not the ones it started with
    if (JSON.stringify(o.limits) !== JSON.stringify(a.limits)) await putFiles(c, [await startFile(c, a)]);
    if (netChanged(o, a) || now.net?.attachments.length || now.net?.ports) await joinLive(c, o, a, now.pid);
    // another table's DNAT of the same host port is not ours to remove: say so, naming it
    if (now.net?.shadowed?.length) {
      throw new Error(
        `${c.t.target}: container ${a.name}: ${now.net.shadowed.join("; ")}; host ports belong to the machine: remove that rule or publish another port`,
      );
    }
  }
  if (a.state === "stopped" && netChanged(o, a)) await prepareNet(c, a);
  if (gone(o, a).length) await releaseAddresses(c.t, c.layout, a.name, gone(o, a));
  if (o.ports.length && !a.ports.length) await releasePorts(c.t, c.layout, a.name);
  if (ownerOf(news) && ownerOf(olds) !== ownerOf(news)) await recordOwner(c, ownerOf(news)!);
  // the spec changed without a create: kslice.json names it, so adoption knows the declaration
  if (sysctlsChanged(o, a)) await recordSpecHash(c, hash(specOf(a, c, now.uidBase)));
  if (o.restartPolicy !== a.restartPolicy || o.logMaxSize !== a.logMaxSize) {
    await operate(
      c,
      a.name,
      filesAndSupervisorSteps(site(c, a.name), [
        { path: `${c.bundle}/restart`, content: a.restartPolicy },
        { path: `${c.bundle}/logmax`, content: String(a.logMaxSize) },
      ]),
    );
  }
  c.snapshots.invalidate();
  return { outs: outputs(a, news, c, await observe(c, a)) };
}

const sysctlsChanged = (o: ContainerArgs, a: ContainerArgs) => JSON.stringify(o.sysctls) !== JSON.stringify(a.sysctls);
const sysctlRemoved = (o: ContainerArgs, a: ContainerArgs) => Object.keys(o.sysctls).some((k) => !(k in a.sysctls));

const netKeys = ["networks", "ports", "dns", "hosts", "ingress"] as const;
const netChanged = (o: ContainerArgs, a: ContainerArgs) => netKeys.some((k) => JSON.stringify(o[k]) !== JSON.stringify(a[k]));
/** Networks the container left. */
const gone = (o: ContainerArgs, a: ContainerArgs) => {
  const now = new Set(a.networks.map(attachmentName));
  return o.networks.map(attachmentName).filter((n) => !now.has(n));
};

/** Applies networks, ports and DNS to a running container without restarting it (and repairs them). */
async function joinLive(c: Ctx, o: ContainerArgs, a: ContainerArgs, pid: number): Promise<void> {
  try {
    await prepareNet(c, a, pid);
  } catch (e) {
    // the state keeps the old declaration: claims on networks it does not know go, and net.sh is put back
    const before = new Set(o.networks.map(attachmentName));
    const added = a.networks.map(attachmentName).filter((n) => !before.has(n));
    if (added.length) await releaseAddresses(c.t, c.layout, a.name, added).catch(() => undefined);
    await prepareNet(c, o).catch(() => undefined);
    throw e;
  }
  // start.sh calls net.sh only when the container has networking: rewrite it when that changes
  if (hasNetworking(o) !== hasNetworking(a)) await start(c, a, true);
}
