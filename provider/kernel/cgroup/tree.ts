import { shellQuote as q, type Transport } from "../../transport/transport";
import { SharedRead, idleMs } from "../shared-read";

/** Every directory and every wanted file of kslice's cgroup trees on one host, read at one moment. */
export interface CgroupTree {
  dirs: Set<string>;
  /** path -> content (without the last newline); a listed file that is empty maps to "". */
  files: Map<string, string>;
}

/** A hierarchy's directory for the prefix, and the files wanted in it and in every directory below. */
export interface TreeRoot {
  root: string;
  files: readonly string[];
}

/**
 * Lists the directories below the roots (find), then awk prints each as "@@d <dir>" and, at the
 * end, every wanted file of each (its hierarchy's) with its content after a "==> path <==" header,
 * as `tail -v` would (an empty file has its header, a missing or unreadable one none). Two
 * processes whatever the number of containers: on a slow host (a TCG guest) each one costs more
 * than the reads. The paths are built from the directories rather than matched by find, which is
 * slower with hundreds of containers in many hierarchies. Nothing but variables starting with
 * ks_tree_, so it can be part of a larger script.
 */
export function treeScript(roots: readonly TreeRoot[]): string {
  const wanted = roots.filter((r) => r.files.length);
  const awk = [
    `BEGIN { n = split(ENVIRON["ks_tree_roots"], root, "\\n"); split(ENVIRON["ks_tree_files"], files, "\\n") }`,
    `{ print "@@d " $0; dir[d++] = $0 }`,
    `END {`,
    `  for (i = 0; i < d; i++) for (j = 1; j <= n; j++) {`,
    `    if (dir[i] != root[j] && index(dir[i], root[j] "/") != 1) continue`,
    `    m = split(files[j], name, " ")`,
    `    for (k = 1; k <= m; k++) {`,
    `      p = dir[i] "/" name[k]; r = (getline l < p); if (r < 0) continue`,
    `      if (out++) print ""; print "==> " p " <=="`,
    `      while (r > 0) { print l; r = (getline l < p) }`,
    `      close(p)`,
    `    }`,
    `    break`,
    `  }`,
    `}`,
  ].join("\n");
  return `find ${roots.map((r) => q(r.root)).join(" ")} -type d 2>/dev/null | ks_tree_roots=${q(wanted.map((r) => r.root).join("\n"))} ks_tree_files=${q(wanted.map((r) => r.files.join(" ")).join("\n"))} awk ${q(awk)}`;
}

/** Reads treeScript's output: "@@d <dir>" lines, then the files' blocks. */
export function parseTree(out: string): CgroupTree {
  const dirs = new Set<string>();
  const files = new Map<string, string>();
  let path: string | undefined;
  let body: string[] = [];
  // tail ends a block with an empty line when another follows (and the output ends with a newline)
  const end = () => {
    if (body[body.length - 1] === "") body.pop();
    if (path !== undefined) files.set(path, body.join("\n"));
  };
  for (const line of out.split("\n")) {
    if (path === undefined && line.startsWith("@@d ")) {
      dirs.add(line.slice(4));
      continue;
    }
    const header = /^==> (.*) <==$/.exec(line);
    if (header) {
      end();
      path = header[1]!;
      body = [];
    } else if (path !== undefined) body.push(line);
  }
  end();
  return { dirs, files };
}

/** One read of a host's kslice cgroup trees, shared by a burst of reads (see SharedRead). */
export class TreeCache extends SharedRead<CgroupTree> {
  constructor(t: Pick<Transport, "run">, script: string, windowMs = idleMs) {
    super(t, script, parseTree, windowMs);
  }
}
