import type { Transport } from "../transport/transport";

/** How long a shared read may serve at most, however busy its callers keep it. */
export const maxAgeMs = 30_000;

/**
 * How long a shared read outlives its last caller. The engine's checks come one at a time, and on
 * a loaded machine the gap between two can pass a second; within one engine run nothing but
 * kslice's own changes (which invalidate) is expected to change what it read.
 */
export const idleMs = 5_000;

/**
 * One read of the host, shared by every caller until it has been idle for `windowMs` (no caller
 * asked) or is `maxAgeMs` old. The engine checks resources one after another and diffs or reads
 * them as the checks end, so a fixed window from the read's start expires in the middle of a slow
 * preview; an idle window lasts the whole burst, and a preview costs a few reads per host instead
 * of several per resource. Every change kslice makes must invalidate it.
 */
export class SharedRead<T> {
  private latest: { at: number; used: number; p: Promise<T> } | undefined;
  /** How many commands were run, for tests and benchmarks. */
  reads = 0;

  constructor(
    private readonly t: Pick<Transport, "run">,
    private readonly script: string,
    private readonly parse: (stdout: string) => T,
    private readonly windowMs: number,
  ) {}

  get(): Promise<T> {
    const now = Date.now();
    const c = this.live(now);
    if (c) {
      c.used = now;
      return c.p;
    }
    this.reads++;
    const p = this.t.run(["sh", "-c", this.script]).then((r) => this.parse(r.stdout));
    const entry = { at: now, used: now, p };
    this.latest = entry;
    // idle from when the answer came, not from when it was asked (a slow host is not idle)
    p.then(
      () => (entry.used = Date.now()),
      () => {
        if (this.latest === entry) this.latest = undefined;
      },
    );
    return p;
  }

  /** The read a get() would return now, without starting one. */
  current(): Promise<T> | undefined {
    return this.live(Date.now())?.p;
  }

  private live(now: number): { at: number; used: number; p: Promise<T> } | undefined {
    const c = this.latest;
    return c && now - c.used < this.windowMs && now - c.at < maxAgeMs ? c : undefined;
  }

  /**
   * Changes what the current read answers, in place of reading again (a change kslice made and
   * knows the effect of); as old as the read it amends. False when no read is current.
   */
  amend(f: (v: T) => T): boolean {
    const c = this.live(Date.now());
    if (!c) return false;
    // the same entry: a read that fails still drops it (get's rejection handler compares entries)
    c.p = c.p.then(f);
    return true;
  }

  /** Takes another read's current answer, changed by f, as this one's (no read when none is current). */
  adopt<U>(other: SharedRead<U>, f: (v: U) => T): void {
    const o = other.live(Date.now());
    if (o) this.latest = { at: o.at, used: Date.now(), p: o.p.then(f) };
  }

  invalidate(): void {
    this.latest = undefined;
  }
}
