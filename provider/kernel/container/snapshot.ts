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
    `for b in ${q(layout.containers)}/*/; do [ -d "$b" ] || continue; n=$(basename "$b"); echo "$n $(stat -c %s "$b/log" 2>/dev/null || echo 0)"; done`,
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
    logSizes.set(n!, Number(size) || 0);
  }
  return { states, bundles: names, logSizes };
}

/** One snapshot of a host's containers, shared by a burst of reads (see SharedRead). */
export class SnapshotCache extends SharedRead<ContainerSnapshot> {
  constructor(t: Pick<Transport, "run">, script: string, windowMs = 250) {
    super(t, script, parseSnapshot, windowMs);
  }
}
