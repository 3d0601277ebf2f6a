import { shellQuote as q, type Transport } from "../../transport/transport";

/** Every directory and every wanted file of kslice's cgroup trees on one host, read at one moment. */
export interface CgroupTree {
  dirs: Set<string>;
  /** path -> content (without the last newline); a listed file that is empty maps to "". */
  files: Map<string, string>;
}

/**
 * One command lists the directories under each root, the wanted files that exist, and their
 * contents (grep -H prints "path:line" for every line: one process for all files).
 */
export function treeScript(roots: string[], names: string[]): string {
  const r = roots.map(q).join(" ");
  const match = names.map((n) => `-name ${q(n)}`).join(" -o ");
  return [
    `find ${r} -type d -printf '@@d %p\\n' 2>/dev/null`,
    `find ${r} -type f \\( ${match} \\) -printf '@@f %p\\n' 2>/dev/null`,
    `find ${r} -type f \\( ${match} \\) -exec grep -H '' {} + 2>/dev/null`,
    `true`,
  ].join("; ");
}

export function parseTree(out: string): CgroupTree {
  const dirs = new Set<string>();
  const lines = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    if (line.startsWith("@@d ")) dirs.add(line.slice(4));
    else if (line.startsWith("@@f ")) lines.set(line.slice(4), []);
    else {
      // cgroup paths kslice makes never hold ":" (names are checked), so the first ":" ends the path
      const i = line.indexOf(":");
      if (i > 0) lines.get(line.slice(0, i))?.push(line.slice(i + 1));
    }
  }
  return { dirs, files: new Map([...lines].map(([p, l]) => [p, l.join("\n")])) };
}

/**
 * Shares one read of the trees among the resources of a host that ask within `windowMs` of it
 * (the engine checks and diffs many resources of one host in a burst), so a preview costs a few
 * reads per host instead of several per resource. Every change kslice makes invalidates it.
 */
export class TreeCache {
  private current: { at: number; p: Promise<CgroupTree> } | undefined;
  reads = 0;

  constructor(
    private readonly t: Transport,
    private readonly script: string,
    private readonly windowMs = 1000,
  ) {}

  get(): Promise<CgroupTree> {
    if (this.current && Date.now() - this.current.at < this.windowMs) return this.current.p;
    this.reads++;
    const p = this.t.run(["sh", "-c", this.script]).then((r) => parseTree(r.stdout));
    const entry = { at: Date.now(), p };
    this.current = entry;
    p.catch(() => {
      if (this.current === entry) this.current = undefined;
    });
    return p;
  }

  invalidate(): void {
    this.current = undefined;
  }
}
