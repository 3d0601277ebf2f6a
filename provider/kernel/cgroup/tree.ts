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

/** A literal for a sed BRE between "|" delimiters, or for its replacement. */
const sedLiteral = (s: string) => s.replace(/[\\|.*[\]^$&]/g, "\\$&");

/**
 * Lists the directories below the roots (one find), then prints every wanted file of each with its
 * content: sed names each directory's files (its hierarchy's), and tail prints them, each after a
 * "==> path <==" header (an empty file has its header, a missing one none). A find that matched
 * every file's name against every wanted name took 0.33 s for 500 containers on a v1 host (9
 * hierarchies), this 0.14 s. Nothing but variables starting with ks_tree_, so it can be part of a
 * larger script.
 */
export function treeScript(roots: readonly TreeRoot[]): string {
  const names = roots
    .filter((r) => r.files.length)
    .map((r) => `-e ${q(`s|^${sedLiteral(r.root)}\\(/.*\\)\\{0,1\\}$|${r.files.map((f) => `&/${sedLiteral(f)}`).join("\\n")}|p`)}`);
  return [
    `ks_tree_dirs=$(find ${roots.map((r) => q(r.root)).join(" ")} -type d 2>/dev/null)`,
    `if [ -n "$ks_tree_dirs" ]; then`,
    `  printf '%s\\n' "$ks_tree_dirs" | sed 's/^/@@d /'`,
    ...(names.length ? [`  printf '%s\\n' "$ks_tree_dirs" | sed -n ${names.join(" ")} | xargs -r -d '\\n' tail -v -n +1 -- 2>/dev/null`] : []),
    `fi`,
    `true`,
  ].join("\n");
}

/** Reads treeScript's output: "@@d <dir>" lines, then tail's blocks. */
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
