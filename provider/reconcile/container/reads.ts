import { isLive } from "./status";
import type { Connection } from "../../../schema/connection";
import { hostLayout } from "../../kernel/container/layout";
import { SnapshotCache, perResource, startBurst, type ClaimsSnapshot, type ContainerSnapshot, type PerResourceReads } from "../../kernel/container/snapshot";
import { chooseRuntime } from "../../kernel/host-facts";
import { connectionKey } from "../../kernel/connection";
import { registerSharedRead, type HostContext } from "../host-context";
import type { Attachment } from "../../kernel/network/attach";
import type { PortRule } from "../../kernel/network/nft";
import { probeAllNets, probeTextFor, type HostNetView } from "../../kernel/network/probe-all";
import { readInitFiles } from "../../kernel/container/security";
import { readHostResolvConf } from "../../kernel/network/dns";
import type { Transport } from "../../transport/transport";

const snapshotCaches = new Map<string, SnapshotCache>();

/**
 * The snapshot of a host and prefix (containers, bundles' records, networks, addresses, ranges),
 * one per provider process, shared by every kind that reads them: containers and networks.
 */
export function hostSnapshots(h: HostContext, host: { connection: Connection; prefix: string; runtime?: "auto" | "runc" | "crun" }): SnapshotCache {
  const key = `${connectionKey(host.connection)}/${host.prefix}`;
  let snapshots = snapshotCaches.get(key);
  if (!snapshots) {
    // a host without a runtime has no containers to list (its networks are still read)
    const chosen = chooseRuntime(h.facts, host.runtime ?? "auto");
    snapshots = new SnapshotCache(h.t, "error" in chosen ? "runc" : chosen.runtime.name, hostLayout(host.prefix));
    snapshotCaches.set(key, snapshots);
    registerSharedRead(snapshots);
  }
  return snapshots;
}

const live = (snap: ContainerSnapshot) => [...snap.states.values()].filter((s) => isLive(s.status));

const inits: PerResourceReads<Map<string, (string | undefined)[]>> = new WeakMap();
const views: PerResourceReads<HostNetView> = new WeakMap();
/** Every live init's /proc status, uid_map and its view of /proc/uptime (readInitFiles), by "<name> <pid>". */
async function allInitFiles(t: Transport, snap: ContainerSnapshot): Promise<Map<string, (string | undefined)[]>> {
  const states = live(snap);
  if (!states.length) return new Map();
  const read = await readInitFiles(
    t,
    states.map((s) => s.pid),
  );
  return new Map(states.map((s, i) => [`${s.id} ${s.pid}`, read[i]!]));
}

/** A live init's /proc status and uid_map (what its security is checked against) and its /proc/uptime, shared by a burst. */
export function initFiles(t: Transport, snap: ContainerSnapshot, name: string, pid: number, burst = false): Promise<(string | undefined)[]> {
  // by name and pid: the burst's read may be older than this snapshot (an init restarted since is read anew)
  return perResource(
    inits,
    snap,
    async () => (await readInitFiles(t, [pid]))[0]!,
    () => allInitFiles(t, snap),
    (m) => m.get(`${name} ${pid}`),
    burst,
  );
}

/**
 * Starts, without waiting for them, the host reads that the first diffs of a preview wait on: the
 * cgroup tree (budgets and containers), then, when a process runs in the prefix's cgroups, the
 * snapshot (the runtime's list of every container), every live init's security files and, when
 * containers hold addresses, the probe of their networks. Called
 * at the Host's check, the first step of a program on its host: at 500 containers the first diffs
 * waited 0.8 s on them. A stack of budgets alone, or a host without containers, reads nothing more
 * than before. Later reads take these (the same shared reads) or read again once they have aged
 * out; a read that fails here is read again, and fails, where it is used.
 */
export function warmReads(h: HostContext, host: { connection: Connection; prefix: string; runtime?: "auto" | "runc" | "crun" }): void {
  h.cgroups
    .procs("")
    .then(async (procs) => {
      if (!procs.length) return;
      const snap = await hostSnapshots(h, host).get();
      startBurst(inits, snap, () => allInitFiles(h.t, snap));
      // containers hold addresses: their diffs will wait on the probe of every namespace (0.8 s at
      // 500). Started here, not with a claims read of its own: that was one more command and 0.2 s
      // more for a preview of 500 without networks, which only waited on the runtime's list before.
      if (snap.addresses.size) startBurst(views, snap, () => probeAllNets(h.t, host.prefix));
    })
    .catch(() => undefined);
}

/**
 * What the kernel shows of a running container's networks (probeNetScript's output), from one
 * probe of every container for a burst (see perResource).
 */
export function netProbeText(
  t: Transport,
  prefix: string,
  snap: ContainerSnapshot,
  name: string,
  pid: number,
  atts: Attachment[],
  ports: PortRule[],
  one: () => Promise<string>,
  burst = false,
): Promise<string> {
  return perResource(
    views,
    snap,
    one,
    () => probeAllNets(t, prefix),
    (view) => (view.pids.get(name) === pid ? probeTextFor(view, name, atts, ports) : undefined),
    burst,
  );
}

const resolvConfs = new WeakMap<object, Promise<string>>();

/** The host's /etc/resolv.conf (what a container without nameservers of its own gets), read once per host read. */
export function hostResolvConf(t: Pick<Transport, "readFiles">, snap: ClaimsSnapshot): Promise<string> {
  const key = snap.source ?? snap;
  let r = resolvConfs.get(key);
  if (!r) {
    r = readHostResolvConf(t);
    resolvConfs.set(key, r);
    r.catch(() => resolvConfs.delete(key));
  }
  return r;
}
