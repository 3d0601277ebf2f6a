import type { Connection } from "../../schema/connection";
import type { TreeCache } from "../kernel/cgroup/tree";
import { readPortsInUse, type PortsInUse } from "../kernel/container/admission";
import { hostLayout } from "../kernel/container/layout";
import { readInitFiles } from "../kernel/container/security";
import { SnapshotCache, perResource, startBurst, type ClaimsSnapshot, type ContainerSnapshot } from "../kernel/container/snapshot";
import { chooseRuntime, type HostFacts } from "../kernel/host-facts";
import { readHostResolvConf } from "../kernel/network/dns";
import { probeAllNets, probeTextFor } from "../kernel/network/probe-all";
import type { Attachment } from "../kernel/network/attach";
import type { PortRule } from "../kernel/network/nft";
import type { NetworkSpec } from "../kernel/network/bridge";
import { BudgetRecords } from "../kernel/owners";
import { idleMs } from "../kernel/shared-read";
import type { Transport } from "../transport/transport";
import { isLive } from "./container/status";
import { once, readsOf, type Reads } from "./host-reads";

/** The engine's calls of a provider: what a view of a host is asked in. */
export type EngineCall = "check" | "diff" | "read" | "create" | "update" | "delete";

/**
 * The calls that come for every resource of a program at once (a preview, a refresh): their reads
 * of one resource are answered from one read of every resource. A create or update observes one.
 */
const burstCalls: ReadonlySet<EngineCall> = new Set(["check", "diff", "read"]);

type Runtime = "auto" | "runc" | "crun";

const live = (snap: ContainerSnapshot) => [...snap.states.values()].filter((s) => isLive(s.status));

/**
 * One engine call's view of a host and prefix: every read of the host that reconcile memoises goes
 * through it, and its memos are shared with every other call's view of the same host and prefix.
 * The call says whether a read of one resource comes in a burst (burstCalls).
 */
export class HostView {
  private readonly r: Reads;
  /** Whether this call's reads of one resource come in a burst (burstCalls). */
  readonly burst: boolean;

  constructor(
    readonly t: Transport,
    readonly facts: HostFacts,
    readonly host: { connection: Connection; prefix: string },
    /** The engine call this view serves; none: a read outside the engine's bursts (a single resource's). */
    readonly call?: EngineCall,
  ) {
    this.r = readsOf(host.connection, host.prefix);
    this.burst = call !== undefined && burstCalls.has(call);
  }

  /** The cgroup tree read of this prefix, shared with the next call's driver (CgroupDriver takes it). */
  get tree(): TreeCache | undefined {
    return this.r.tree;
  }

  set tree(tree: TreeCache) {
    this.r.tree ??= tree;
  }

  /** The snapshot of the prefix (containers, bundles' records, networks, addresses, ranges), shared by containers and networks. */
  snapshots(runtime: Runtime = "auto"): SnapshotCache {
    if (!this.r.snapshots) {
      // a host without a runtime has no containers to list (its networks are still read)
      const chosen = chooseRuntime(this.facts, runtime);
      this.r.snapshots = new SnapshotCache(this.t, "error" in chosen ? "runc" : chosen.runtime.name, hostLayout(this.host.prefix));
    }
    return this.r.snapshots;
  }

  /** The prefix's budget records, read once for a burst of checks. */
  budgets(): BudgetRecords {
    return (this.r.budgets ??= new BudgetRecords(this.t, hostLayout(this.host.prefix), idleMs));
  }

  /**
   * Runs f after this process's earlier network creates on the machine, so that two new networks of
   * one deployment cannot both pass the overlap check (the engine runs creates in parallel).
   */
  createNetwork<T>(f: () => Promise<T>): Promise<T> {
    const m = this.r.machine;
    const run = (m.networkCreates ?? Promise.resolve()).then(f, f);
    m.networkCreates = run.catch(() => undefined);
    return run;
  }

  /** Chooses `value` under `key` apart from the operations under way (see Machine.picked); returns its release. */
  pick(key: string, value: string): () => void {
    const set = this.r.machine.picked.get(key) ?? new Set<string>();
    this.r.machine.picked.set(key, set);
    set.add(value);
    return () => set.delete(value);
  }

  /** The values operations under way have chosen under `key`. */
  picked(key: string): Set<string> {
    return new Set(this.r.machine.picked.get(key));
  }

  /** A live init's /proc status, uid_map and /proc/uptime, by name and pid (the burst's read may be older than this snapshot). */
  initFiles(snap: ContainerSnapshot, name: string, pid: number): Promise<(string | undefined)[]> {
    return perResource(
      this.r.inits,
      snap,
      async () => (await readInitFiles(this.t, [pid]))[0]!,
      () => this.allInitFiles(snap),
      (m) => m.get(`${name} ${pid}`),
      this.burst,
    );
  }

  /** What the kernel shows of a running container's networks (probeNetScript's output), from one probe of every container for a burst. */
  netProbeText(snap: ContainerSnapshot, name: string, pid: number, atts: Attachment[], ports: PortRule[], one: () => Promise<string>): Promise<string> {
    return perResource(
      this.r.netViews,
      snap,
      one,
      () => probeAllNets(this.t, this.host.prefix),
      (view) => (view.pids.get(name) === pid ? probeTextFor(view, name, atts, ports) : undefined),
      this.burst,
    );
  }

  /** A network's probe: its own, or from one of every recorded network for a burst; only a record of the same bridge answers. */
  networkProbe(snap: ClaimsSnapshot, spec: NetworkSpec, one: () => Promise<string>, all: () => Promise<Map<string, string>>): Promise<string> {
    const pick = (m: Map<string, string>) => (snap.networks.get(spec.name)?.bridge === spec.bridge ? m.get(spec.name) : undefined);
    return perResource(this.r.networkProbes, snap, one, all, pick, this.burst);
  }

  /** What a network's check needs of the host beside its records (tools, interfaces, routes): once per snapshot. */
  networkHostLines(snap: ClaimsSnapshot, read: () => Promise<string>): Promise<string> {
    return once(this.r.networkLines, snap, read);
  }

  /** Port claims and listening sockets, read once per host snapshot (the checks of a burst share it). */
  portsInUse(snap: ClaimsSnapshot): Promise<PortsInUse> {
    return once(this.r.ports, snap, () => readPortsInUse(this.t));
  }

  /** The host's /etc/resolv.conf (what a container without nameservers of its own gets), read once per host read. */
  resolvConf(snap: ClaimsSnapshot): Promise<string> {
    return once(this.r.resolvConfs, snap.source ?? snap, () => readHostResolvConf(this.t));
  }

  /**
   * Starts, without waiting, the reads the first diffs of a preview wait on (at 500 containers they
   * waited 0.8 s): the cgroup tree, then, when a process runs in the prefix's cgroups, the snapshot,
   * every live init's files and, when containers hold addresses, the probe of their networks. The
   * Host's check calls it; a read that fails here is read again, and fails, where it is used.
   */
  warm(procs: () => Promise<unknown[]>, runtime?: Runtime): void {
    procs()
      .then(async (p) => {
        if (!p.length) return;
        const snap = await this.snapshots(runtime).get();
        startBurst(this.r.inits, snap, () => this.allInitFiles(snap));
        // from the snapshot, not a claims read of its own: that was one more command and 0.2 s more
        // for a preview of 500 without networks
        if (snap.addresses.size) startBurst(this.r.netViews, snap, () => probeAllNets(this.t, this.host.prefix));
      })
      .catch(() => undefined);
  }

  /** Every live init's /proc status, uid_map and its view of /proc/uptime (readInitFiles), by "<name> <pid>". */
  private async allInitFiles(snap: ContainerSnapshot): Promise<Map<string, (string | undefined)[]>> {
    const states = live(snap);
    if (!states.length) return new Map();
    const read = await readInitFiles(
      this.t,
      states.map((s) => s.pid),
    );
    return new Map(states.map((s, i) => [`${s.id} ${s.pid}`, read[i]!]));
  }
}
