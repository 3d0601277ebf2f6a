import type { FailCounters } from "../provider/kernel/cgroup/counters";
import { stackOfUrn } from "../schema/urn";
import type { NodeSample, PrefixSample } from "../provider/kernel/observe/sample";

/** Usage against limits of one cgroup node; a limit of null is "max" (none). */
export interface UsageView {
  memory: { currentBytes: number; peakBytes: number; maxBytes: number | null; highBytes: number | null };
  /** percent: of one core, averaged over the interval between two samples; null with one sample. */
  cpu: { usageNs: number; percent: number | null; maxCores: number | null };
  pids: { current: number; max: number | null };
  failures: FailCounters;
}

export interface ContainerView extends UsageView {
  name: string;
  /** Cgroup path below the prefix ("tenant-a/web"); null when the bundle names none. */
  cgroup: string | null;
  /** The runtime's status (created, running, paused, stopped), or "absent": a bundle the runtime does not know. */
  status: string;
  pid: number | null;
  createdAt: string | null;
  uptimeSeconds: number | null;
  /** Address per network. */
  addresses: Record<string, string>;
  /** Host ports it publishes, as "tcp 0.0.0.0:18800" (an IPv6 address in brackets: "tcp [fd00::10]:18800"). */
  ports: string[];
  /** The resource that made it (its URN, kslice.json's owner) and that resource's `project/stack`; null when ownerless. */
  owner: string | null;
  stack: string | null;
  /** Restarts by the host's supervisor still in the log (the log is capped, older ones are trimmed). */
  restarts: number;
  /**
   * Records of the bundle found empty or unreadable (a power loss before they were on disk): a boot
   * does not start such a container, and the next `pulumi up` rewrites them. Empty when sound.
   */
  damaged: string[];
  /**
   * Its disk limit's filesystem (`disk`), as `df /` inside shows it; null without a limit or when its
   * image is not mounted. `full`: seen full at this sample (`diskFull`).
   */
  disk: { usedBytes: number; maxBytes: number; availBytes: number; inodesUsed: number; inodes: number; inodesFree: number; full: boolean } | null;
  /** What its declared `ingress` dropped since its counter was made (its first networked start); null without ingress rules. */
  ingressDrops: { packets: number; bytes: number } | null;
  /** The finished migration that brought it here (its bundle's migration.json); null when none or unreadable. */
  lastMigration: MigrationView | null;
}

/** A finished migration, as the provider records it on the target (reconcile/container/move-records.ts, MigrationRecord). */
export interface MigrationView {
  from: string;
  to: string;
  mode: string;
  /** From the stop on the source to the start here; null when it was not started. */
  downtimeMs: number | null;
  bytes: number;
  /** Of those, copied while it still ran on the source. */
  precopyBytes: number;
  templateBuilt: boolean;
  at: string;
}

export interface BudgetView extends UsageView {
  /** Path below the prefix. */
  path: string;
  parent: string | null;
  /** Containers directly inside. */
  containers: string[];
}

export interface NetworkView {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** Address per container. */
  addresses: Record<string, string>;
}

export interface PrefixView {
  host: string;
  prefix: string;
  cgroupVersion: 1 | 2;
  runtime: string;
  /** When the (last) sample was taken, by the host's clock. */
  sampledAt: string;
  /** Seconds between the two samples CPU % was computed from; null with one sample. */
  intervalSeconds: number | null;
  /**
   * The stacks (`project/stack`) whose Host declares this host `draining`, from the records the
   * Host writes on it; empty when none (or the records predate them). ContainerSets of those
   * stacks place no replica here and move theirs away.
   */
  drainingStacks: string[];
  draining: boolean;
  containers: ContainerView[];
  budgets: BudgetView[];
  networks: NetworkView[];
}

/** The owner URN of a bundle's kslice.json, or null (none, or a record that is not JSON). */
function ownerOfRecord(record: string | undefined): string | null {
  try {
    const owner = (JSON.parse(record ?? "") as { owner?: unknown }).owner;
    return typeof owner === "string" && owner ? owner : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const str = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/**
 * A bundle's migration.json as the finished migration it records, or null: none, one still in
 * progress (phase copying or copied), or a record that is not what the provider writes.
 */
export function parseMigration(text: string | undefined): MigrationView | null {
  let m: unknown;
  try {
    m = JSON.parse(text ?? "");
  } catch {
    return null;
  }
  const move = m && typeof m === "object" ? (m as { phase?: unknown; result?: Record<string, unknown> }) : {};
  const r = move.result;
  if (move.phase !== "started" || !r || typeof r !== "object") return null;
  if (!str(r.from) || !str(r.to) || !str(r.at) || !num(r.bytes) || !(r.downtimeMs === null || num(r.downtimeMs))) return null;
  return {
    from: r.from,
    to: r.to,
    mode: str(r.mode) ? r.mode : "cold",
    downtimeMs: r.downtimeMs as number | null,
    bytes: r.bytes,
    precopyBytes: num(r.precopyBytes) ? r.precopyBytes : 0,
    templateBuilt: r.templateBuilt === true,
    at: r.at,
  };
}

/** The stacks whose draining record names its Host's owner; a record that is not one is left out. */
export function drainingStacksOf(records: Map<string, string>): string[] {
  const stacks = [...records.values()].flatMap((text) => {
    const owner = ownerOfRecord(text);
    return owner ? [stackOfUrn(owner)] : [];
  });
  return [...new Set(stacks)].sort();
}

const mapOrNull = <T, U>(v: T | null, f: (v: T) => U): U | null => (v === null ? null : f(v));

const limit = (v: number | "max" | undefined) => (typeof v === "number" ? v : null);

function usageView(node: NodeSample | undefined, prevNode: NodeSample | undefined, intervalMs: number | null): UsageView {
  const u = node?.usage;
  const l = node?.limits;
  const delta = u && prevNode ? u.cpuUsageNs - prevNode.usage.cpuUsageNs : -1;
  return {
    memory: {
      currentBytes: u?.memoryCurrentBytes ?? 0,
      peakBytes: u?.memoryPeakBytes ?? 0,
      maxBytes: limit(l?.memory?.max),
      highBytes: limit(l?.memory?.high),
    },
    cpu: {
      usageNs: u?.cpuUsageNs ?? 0,
      // a negative delta is a cgroup made anew (a restart) between the samples
      percent: intervalMs && delta >= 0 ? Math.round((delta / (intervalMs * 1e6)) * 1000) / 10 : null,
      maxCores: limit(l?.cpu?.max),
    },
    pids: { current: u?.pidsCurrent ?? 0, max: limit(l?.pids?.max) },
    failures: node?.counters ?? { oomKills: 0, pidsMaxHits: 0, memoryHighEvents: null, memoryMaxEvents: 0, cpuThrottledPeriods: 0, cpuThrottledUs: 0 },
  };
}

/**
 * Below this, a container's disk image counts as full. ext4 keeps no counter of the writes it refuses
 * with ENOSPC (its sysfs directory counts errors and warnings, not refusals; dumpe2fs and the loop
 * device neither), so a "hit" is sampled: what a write can still take (statfs `f_bavail`, which
 * already leaves out ext4's reserved clusters; kslice's images have no root-reserved blocks,
 * `mkfs -m 0`, so a tenant's root and non-root writers stop at the same point) under 1 MiB, or no
 * inode left. Not 0: a refused write leaves free what was smaller than it (`dd bs=1M` stops with
 * up to 1 MiB left).
 */
export const diskFullBelowBytes = 1024 * 1024;

export const diskFull = (d: { availBytes: number; inodesFree: number; inodes: number }): boolean =>
  d.availBytes < diskFullBelowBytes || (d.inodes > 0 && d.inodesFree <= 0);

/** Pure: one or two samples of a prefix as what `ps` shows (CPU % needs two). */
export function buildView(meta: { host: string; prefix: string; cgroupVersion: 1 | 2; runtime: string }, cur: PrefixSample, prev?: PrefixSample): PrefixView {
  const intervalMs = prev ? cur.atMs - prev.atMs : null;
  const { snapshot } = cur;
  const names = [...new Set([...snapshot.bundles, ...snapshot.states.keys()])].sort();
  const containerPaths = new Set([...cur.cgroups.values()]);
  const containers = names.map((name): ContainerView => {
    const state = snapshot.states.get(name);
    const cgroup = cur.cgroups.get(name) ?? null;
    const running = state && state.status !== "stopped";
    const created = state?.created ? Date.parse(state.created) : NaN;
    return {
      name,
      cgroup,
      status: state?.status ?? "absent",
      pid: running && state.pid ? state.pid : null,
      createdAt: state?.created ?? null,
      uptimeSeconds: running && !Number.isNaN(created) ? Math.max(0, Math.round((cur.atMs - created) / 1000)) : null,
      addresses: Object.fromEntries(snapshot.addresses.get(name) ?? []),
      ports: (cur.ports.get(name) ?? []).map((k) => k.split("/")).map(([proto, addr, port]) => `${proto} ${addr!.includes(":") ? `[${addr}]` : addr}:${port}`),
      owner: ownerOfRecord(snapshot.records.get(name)),
      stack: mapOrNull(ownerOfRecord(snapshot.records.get(name)), stackOfUrn),
      restarts: cur.restarts.get(name) ?? 0,
      damaged: snapshot.damaged.get(name) ?? [],
      disk: mapOrNull(cur.disks.get(name) ?? null, (d) => ({
        usedBytes: d.usedBytes,
        maxBytes: d.sizeBytes,
        availBytes: d.availBytes,
        inodesUsed: d.inodesUsed,
        inodes: d.inodes,
        inodesFree: d.inodesFree,
        full: diskFull(d),
      })),
      ingressDrops: cur.ingressDrops.get(name) ?? null,
      lastMigration: parseMigration(cur.migrations.get(name)),
      ...usageView(cgroup ? cur.nodes.get(cgroup) : undefined, cgroup ? prev?.nodes.get(cgroup) : undefined, intervalMs),
    };
  });
  // Budgets: every node that is neither a container's cgroup nor inside one.
  const insideContainer = (p: string) => [...containerPaths].some((c) => p === c || p.startsWith(`${c}/`));
  const budgets = [...cur.nodes.keys()]
    .filter((p) => !insideContainer(p))
    .map((path): BudgetView => {
      const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : null;
      return {
        path,
        parent,
        containers: containers.filter((c) => c.cgroup && c.cgroup.slice(0, Math.max(0, c.cgroup.lastIndexOf("/"))) === path).map((c) => c.name),
        ...usageView(cur.nodes.get(path), prev?.nodes.get(path), intervalMs),
      };
    });
  const networks = [...snapshot.networks.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n): NetworkView => ({
      name: n.name,
      bridge: n.bridge,
      subnet: n.subnet,
      gateway: n.gateway,
      addresses: Object.fromEntries([...snapshot.addresses].flatMap(([owner, byNet]) => (byNet.has(n.name) ? [[owner, byNet.get(n.name)!]] : []))),
    }));
  const drainingStacks = drainingStacksOf(cur.draining);
  return {
    ...meta,
    sampledAt: new Date(cur.atMs).toISOString(),
    intervalSeconds: intervalMs === null ? null : Math.round(intervalMs / 10) / 100,
    drainingStacks,
    draining: drainingStacks.length > 0,
    containers,
    budgets,
    networks,
  };
}

/** How close a node is to its tightest limit, 0..1+ (unlimited resources do not count). */
export function pressure(u: UsageView): number {
  const parts = [
    u.memory.maxBytes ? u.memory.currentBytes / u.memory.maxBytes : 0,
    u.cpu.maxCores && u.cpu.percent !== null ? u.cpu.percent / (u.cpu.maxCores * 100) : 0,
    u.pids.max ? u.pids.current / u.pids.max : 0,
  ];
  return Math.max(...parts);
}

export function isEmpty(v: PrefixView): boolean {
  return !v.containers.length && !v.budgets.length && !v.networks.length;
}
