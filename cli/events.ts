import { bytes } from "./format";
import type { ContainerView, PrefixView, UsageView } from "./model";

/**
 * Events derived from samples of the kernel (kslice keeps no event log of its own):
 * - the runtime's state between two samples: a container appears, disappears, changes status,
 *   or runs with a new init pid;
 * - the supervisor's lines in each bundle log ("kslice: restarting …"), counted;
 * - a bundle's records found empty or unreadable (a power loss before they were on disk: boot.sh
 *   did not start it and said so in the log) and, once `pulumi up` rewrote them, repaired;
 * - fail counters that increase: OOM kills, pids.max hits, memory.max (v1 failcnt) and
 *   memory.high events, for containers and budgets alike;
 * - a container's disk image seen full (`diskFull` in model.ts) where the previous sample did not
 *   see it full ("disk-full"), and free again ("disk-free"): sampled, edge-triggered, since ext4
 *   counts no ENOSPC refusals. Filled and emptied between two samples is not seen.
 * - a finished migration recorded in a container's bundle (migration.json, written by the
 *   provider on the target): in the first sample that sees the container, and when the record's
 *   time changes (it moved here again) ("migrated");
 * Not sources: drift repaired by `pulumi up` (the provider writes no record of it), changes that
 * come and go between two samples (a container restarted twice in one interval is one event;
 * counters still count every hit), CPU throttling (continuous under a quota: shown by ps).
 */
export interface KsliceEvent {
  /** The host's clock at the sample that saw it. */
  at: string;
  object: "container" | "budget";
  name: string;
  kind:
    | "present"
    | "created"
    | "removed"
    | "started"
    | "stopped"
    | "status"
    | "new-pid"
    | "restarted"
    | "damaged"
    | "repaired"
    | "oom-kill"
    | "pids-max"
    | "memory-max"
    | "memory-high"
    | "disk-full"
    | "disk-free"
    | "ingress-drop"
    | "migrated";
  /** How many (counters: by how much they rose, or their total in a first sample). */
  count?: number;
  detail: string;
}

const counters = [
  ["oomKills", "oom-kill", "OOM kill(s)"],
  ["pidsMaxHits", "pids-max", "fork(s) refused at pids.max"],
  ["memoryMaxEvents", "memory-max", "hit(s) of memory.max"],
  ["memoryHighEvents", "memory-high", "time(s) over memory.high"],
] as const;

const damagedDetail = (c: ContainerView) =>
  `records empty or unreadable (${c.damaged.join(", ")}): not started at boot; the next pulumi up rewrites them, keeping its writable layer`;

function counterEvents(at: string, object: KsliceEvent["object"], name: string, cur: UsageView, prev: UsageView | undefined): KsliceEvent[] {
  const out: KsliceEvent[] = [];
  for (const [field, kind, text] of counters) {
    const now = cur.failures[field] ?? 0;
    const before = prev ? (prev.failures[field] ?? 0) : 0;
    // a counter that went down belongs to a cgroup made anew: count from zero
    const rise = now >= before ? now - before : now;
    if (rise > 0) out.push({ at, object, name, kind, count: rise, detail: `${rise} ${text}${prev ? "" : " so far"} (total ${now})` });
  }
  return out;
}

function diskEvent(at: string, c: ContainerView, prev: ContainerView | undefined): KsliceEvent[] {
  const d = c.disk;
  const was = prev?.disk?.full ?? false;
  if (d?.full && !was) {
    const what = d.inodes > 0 && d.inodesFree <= 0 ? `no inode left (${d.inodesUsed}/${d.inodes})` : `${bytes(d.availBytes)} left`;
    return [
      {
        at,
        object: "container",
        name: c.name,
        kind: "disk-full",
        detail: `disk image full: ${what}, ${bytes(d.usedBytes)}/${bytes(d.maxBytes)} used; writes fail with ENOSPC (sampled)`,
      },
    ];
  }
  if (prev && was && d && !d.full)
    return [{ at, object: "container", name: c.name, kind: "disk-free", detail: `disk image no longer full: ${bytes(d.availBytes)} left` }];
  return [];
}

/** A migration recorded in the container's bundle that `prev` (the same container at the last sample, if any) did not show. */
function migrationEvent(at: string, c: ContainerView, prev: ContainerView | undefined): KsliceEvent[] {
  const m = c.lastMigration;
  if (!m || (prev && prev.lastMigration?.at === m.at)) return [];
  const downtime = m.downtimeMs === null ? "not started" : `downtime ${m.downtimeMs} ms`;
  const precopy = m.precopyBytes ? ` (${bytes(m.precopyBytes)} while it ran)` : "";
  return [
    {
      at,
      object: "container",
      name: c.name,
      kind: "migrated",
      detail: `migrated here from ${m.from} at ${m.at} (${m.mode}), ${downtime}, ${bytes(m.bytes)} moved${precopy}${m.templateBuilt ? ", template built here first" : ""}`,
    },
  ];
}

/** What one sample tells: each container's state, and the counters and restarts so far. */
export function initialEvents(view: PrefixView): KsliceEvent[] {
  const at = view.sampledAt;
  const out: KsliceEvent[] = [];
  for (const c of view.containers) {
    out.push({ at, object: "container", name: c.name, kind: "present", detail: `${c.status}${c.pid ? ` (pid ${c.pid})` : ""}` });
    if (c.restarts)
      out.push({
        at,
        object: "container",
        name: c.name,
        kind: "restarted",
        count: c.restarts,
        detail: `${c.restarts} restart(s) by the supervisor in the log`,
      });
    if (c.damaged.length) out.push({ at, object: "container", name: c.name, kind: "damaged", detail: damagedDetail(c) });
    if (c.ingressDrops?.packets)
      out.push({
        at,
        object: "container",
        name: c.name,
        kind: "ingress-drop",
        count: c.ingressDrops.packets,
        detail: `${c.ingressDrops.packets} packet(s) dropped by its ingress rules so far`,
      });
    out.push(...counterEvents(at, "container", c.name, c, undefined));
    out.push(...diskEvent(at, c, undefined));
    out.push(...migrationEvent(at, c, undefined));
  }
  for (const b of view.budgets) out.push(...counterEvents(at, "budget", b.path, b, undefined));
  return out;
}

/** What changed between two samples. */
export function diffEvents(prev: PrefixView, cur: PrefixView): KsliceEvent[] {
  const at = cur.sampledAt;
  const out: KsliceEvent[] = [];
  const before = new Map(prev.containers.map((c) => [c.name, c]));
  for (const c of cur.containers) {
    const p = before.get(c.name);
    if (!p) {
      out.push({ at, object: "container", name: c.name, kind: "created", detail: `${c.status}${c.pid ? ` (pid ${c.pid})` : ""}` });
      out.push(...counterEvents(at, "container", c.name, c, undefined));
      out.push(...diskEvent(at, c, undefined));
      out.push(...migrationEvent(at, c, undefined));
      continue;
    }
    if (c.damaged.length && !p.damaged.length) out.push({ at, object: "container", name: c.name, kind: "damaged", detail: damagedDetail(c) });
    if (!c.damaged.length && p.damaged.length)
      out.push({ at, object: "container", name: c.name, kind: "repaired", detail: `records rewritten (${p.damaged.join(", ")})` });
    if (c.restarts > p.restarts) {
      out.push({
        at,
        object: "container",
        name: c.name,
        kind: "restarted",
        count: c.restarts - p.restarts,
        detail: `restarted by the supervisor${c.pid ? ` (pid ${c.pid})` : ""}`,
      });
    } else if (p.status !== c.status) {
      const kind = c.status === "running" ? "started" : c.status === "stopped" || c.status === "absent" ? "stopped" : "status";
      out.push({ at, object: "container", name: c.name, kind, detail: `${p.status} -> ${c.status}${c.pid ? ` (pid ${c.pid})` : ""}` });
    } else if (c.pid && p.pid && c.pid !== p.pid) {
      out.push({ at, object: "container", name: c.name, kind: "new-pid", detail: `init pid ${p.pid} -> ${c.pid} (started again)` });
    }
    out.push(...counterEvents(at, "container", c.name, c, p));
    out.push(...diskEvent(at, c, p));
    out.push(...migrationEvent(at, c, p));
    // packets its declared ingress dropped since the last sample (network/ingress.ts)
    const dropped = (c.ingressDrops?.packets ?? 0) - (p.ingressDrops?.packets ?? 0);
    if (c.ingressDrops && dropped > 0)
      out.push({
        at,
        object: "container",
        name: c.name,
        kind: "ingress-drop",
        count: dropped,
        detail: `${dropped} packet(s) dropped by its ingress rules (${c.ingressDrops.packets} in all)`,
      });
  }
  for (const p of prev.containers) {
    if (!cur.containers.some((c) => c.name === p.name))
      out.push({ at, object: "container", name: p.name, kind: "removed", detail: "gone from the runtime and the host" });
  }
  const budgetsBefore = new Map(prev.budgets.map((b) => [b.path, b]));
  for (const b of cur.budgets) out.push(...counterEvents(at, "budget", b.path, b, budgetsBefore.get(b.path)));
  return out;
}

export function formatEvent(e: KsliceEvent): string {
  return `${e.at}  ${e.object} ${e.name}  ${e.kind}  ${e.detail}`;
}
