import { shellQuote as q, type Transport } from "../../transport/transport";
import { SharedRead } from "../shared-read";
import type { HostLayout } from "./layout";
import type { RuntimeState } from "./runtime";

/** Every kslice container on a host at one moment: the runtime's list and the bundles on disk. */
export interface ContainerSnapshot {
  states: Map<string, RuntimeState>;
  bundles: Set<string>;
  /** Log sizes in bytes, by container. */
  logSizes: Map<string, number>;
}

export function snapshotScript(runtime: string, layout: HostLayout): string {
  return [
    `${runtime} --root ${q(layout.runtimeRoot)} list --format json 2>/dev/null || echo null`,
    `echo @@bundles`,
    // two processes whatever the number of containers (a basename and a stat each cost O(N) per read)
    `find ${q(layout.containers)} -mindepth 1 -maxdepth 1 -type d -printf '%f 0\\n' 2>/dev/null`,
    `find ${q(layout.containers)} -mindepth 2 -maxdepth 2 -name log -printf '%h %s\\n' 2>/dev/null | sed 's|^.*/||'`,
  ].join("; ");
}

export function parseSnapshot(out: string): ContainerSnapshot {
  const [list = "", bundles = ""] = out.split("@@bundles\n");
  const parsed = JSON.parse(list.trim() || "null") as RuntimeState[] | null;
  const states = new Map((parsed ?? []).map((s) => [s.id, { id: s.id, status: s.status, pid: s.pid, created: s.created }]));
  const names = new Set<string>();
  const logSizes = new Map<string, number>();
  for (const line of bundles.split("\n").filter(Boolean)) {
    const [n, size] = line.split(" ");
    names.add(n!);
    logSizes.set(n!, Math.max(logSizes.get(n!) ?? 0, Number(size) || 0));
  }
  return { states, bundles: names, logSizes };
}

/** One snapshot of a host's containers, shared by a burst of reads (see SharedRead). */
export class SnapshotCache extends SharedRead<ContainerSnapshot> {
  constructor(t: Pick<Transport, "run">, script: string, windowMs = 1000) {
    super(t, script, parseSnapshot, windowMs);
  }
}
