import { shellQuote as q, type Transport } from "../../transport/transport";
import { SharedRead, idleMs } from "../shared-read";

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

/** One read of a host's kslice cgroup trees, shared by a burst of reads (see SharedRead). */
export class TreeCache extends SharedRead<CgroupTree> {
  constructor(t: Pick<Transport, "run">, script: string, windowMs = idleMs) {
    super(t, script, parseTree, windowMs);
  }
}
