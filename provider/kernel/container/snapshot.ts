import { shellQuote as q, type Transport } from "../../transport/transport";
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

/**
 * Shares one snapshot between the reads that arrive together (the engine diffs many containers at
 * once): a read joins the one in flight if it started less than `windowMs` ago. Every change made
 * by kslice invalidates it.
 */
export class SnapshotCache {
  private current: { at: number; p: Promise<ContainerSnapshot> } | undefined;
  reads = 0;

  constructor(
    private readonly t: Transport,
    private readonly script: string,
    private readonly windowMs = 250,
  ) {}

  get(): Promise<ContainerSnapshot> {
    if (this.current && Date.now() - this.current.at < this.windowMs) return this.current.p;
    this.reads++;
    const p = this.t.run(["sh", "-c", this.script]).then((r) => parseSnapshot(r.stdout));
    this.current = { at: Date.now(), p };
    p.catch(() => (this.current = undefined));
    return p;
  }

  invalidate(): void {
    this.current = undefined;
  }
}
