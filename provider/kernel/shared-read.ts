import type { Transport } from "../transport/transport";

/**
 * One read of the host, shared by the callers that ask within `windowMs` of its start (the engine
 * checks and diffs many resources of a host in a burst), so a preview costs a few reads per host
 * instead of several per resource. Every change kslice makes must invalidate it.
 */
export class SharedRead<T> {
  private current: { at: number; p: Promise<T> } | undefined;
  /** How many commands were run, for tests and benchmarks. */
  reads = 0;

  constructor(
    private readonly t: Pick<Transport, "run">,
    private readonly script: string,
    private readonly parse: (stdout: string) => T,
    private readonly windowMs: number,
  ) {}

  get(): Promise<T> {
    if (this.current && Date.now() - this.current.at < this.windowMs) return this.current.p;
    this.reads++;
    const p = this.t.run(["sh", "-c", this.script]).then((r) => this.parse(r.stdout));
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
