import { shellQuote as q, type Transport } from "../../transport/transport";
import { SharedRead, idleMs } from "../shared-read";

/** Every directory and every wanted file of kslice's cgroup trees on one host, read at one moment. */
export interface CgroupTree {
  dirs: Set<string>;
  /** path -> content (without the last newline); a listed file that is empty maps to "". */
  files: Map<string, string>;
}

/**
 * One walk of the trees lists the directories, the wanted files that exist, and their contents
 * (grep -H prints "path:line" for every line: one process per batch of files). One find, not three:
 * 0.41 → 0.19 s for 500 containers on a v1 host (9 hierarchies).
 */
export function treeScript(roots: string[], names: string[]): string {
  const r = roots.map(q).join(" ");
  const match = names.map((n) => `-name ${q(n)}`).join(" -o ");
  return `find ${r} \\( -type d -printf '@@d %p\\n' \\) -o \\( -type f \\( ${match} \\) -printf '@@f %p\\n' -exec grep -H '' {} + \\) 2>/dev/null; true`;
}

/** Reads treeScript's output, whatever the order of find's lines and grep's (they share the pipe). */
export function parseTree(out: string): CgroupTree {
  const dirs = new Set<string>();
  const listed: string[] = [];
  const lines = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    if (line.startsWith("@@d ")) dirs.add(line.slice(4));
    else if (line.startsWith("@@f ")) listed.push(line.slice(4));
    else {
      // cgroup paths kslice makes never hold ":" (names are checked), so the first ":" ends the path
      const i = line.indexOf(":");
      if (i > 0) {
        const path = line.slice(0, i);
        const l = lines.get(path);
        if (l) l.push(line.slice(i + 1));
        else lines.set(path, [line.slice(i + 1)]);
      }
    }
  }
  return { dirs, files: new Map(listed.map((p) => [p, (lines.get(p) ?? []).join("\n")])) };
}

/** One read of a host's kslice cgroup trees, shared by a burst of reads (see SharedRead). */
export class TreeCache extends SharedRead<CgroupTree> {
  constructor(t: Pick<Transport, "run">, script: string, windowMs = idleMs) {
    super(t, script, parseTree, windowMs);
  }
}
