import type { Transport } from "./transport";

const marker = "@@kslice-file@@";

/** A shell loop that prints every path read from stdin after a marker line saying if it was readable. */
export const readFilesScript = `while IFS= read -r f; do if [ -r "$f" ] && c=$(cat -- "$f" 2>/dev/null); then echo "${marker} 1"; printf '%s\\n' "$c"; else echo "${marker} 0"; fi; done`;

export function parseReadFiles(output: string, count: number): (string | undefined)[] {
  const parts = output.split(new RegExp(`^${marker} `, "m")).slice(1);
  if (parts.length !== count) throw new Error(`batched read returned ${parts.length} files for ${count} paths`);
  return parts.map((p) => (p.startsWith("1\n") ? p.slice(2).replace(/\n$/, "") : undefined));
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
      const values = parseReadFiles(r.stdout, all.length);
      const byPath = new Map(all.map((p, i) => [p, values[i]]));
      for (const b of batch) b.resolve(b.paths.map((p) => byPath.get(p)));
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}
