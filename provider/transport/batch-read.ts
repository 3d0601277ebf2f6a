import type { Transport } from "./transport";

/**
 * Prints every path read from stdin with its content, as `tail -v` does ("==> path <==" headers):
 * three processes whatever the number of files (a directory is left out: tail would give it a
 * header). A command substitution and a cat per file cost two processes each, and on a slow host
 * (a TCG guest) a process costs more than the read.
 */
export const readFilesScript = `while IFS= read -r f; do [ -d "$f" ] || printf '%s\\n' "$f"; done | xargs -r -d '\\n' tail -v -n +1 -- 2>/dev/null; true`;

/** Each path's content, one trailing newline dropped (as the local transport reads it); undefined where missing or unreadable. */
export function parseReadFiles(output: string, paths: readonly string[]): (string | undefined)[] {
  const files = new Map<string, string>();
  const wanted = new Set(paths);
  let path: string | undefined;
  let body: string[] = [];
  // tail puts an empty line before every header but the first; the output's last newline splits off one more
  const end = () => {
    if (body[body.length - 1] === "") body.pop();
    if (path !== undefined) files.set(path, body.join("\n"));
  };
  for (const line of output.split("\n")) {
    const header = /^==> (.*) <==$/.exec(line);
    if (header && wanted.has(header[1]!) && !files.has(header[1]!)) {
      end();
      path = header[1]!;
      body = [];
    } else if (path !== undefined) body.push(line);
  }
  end();
  return paths.map((p) => files.get(p));
}

/**
 * Coalesces the reads that arrive within one short window into one command, so that the engine's
 * parallel diffs of N resources on a host cost one round trip, not N.
 */
export class BatchReader {
  private queue: { paths: string[]; resolve: (v: (string | undefined)[]) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** How many commands were run, for tests and benchmarks. */
  commands = 0;

  constructor(
    private readonly t: Pick<Transport, "run">,
    private readonly windowMs = 5,
  ) {}

  read(paths: string[]): Promise<(string | undefined)[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ paths, resolve, reject });
      this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.timer = undefined;
    const all = [...new Set(batch.flatMap((b) => b.paths))];
    try {
      this.commands++;
      const r = await this.t.run(["sh", "-c", readFilesScript], { input: `${all.join("\n")}\n` });
      const values = parseReadFiles(r.stdout, all);
      const byPath = new Map(all.map((p, i) => [p, values[i]]));
      for (const b of batch) b.resolve(b.paths.map((p) => byPath.get(p)));
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}
