import { afterEach, describe, expect, it, vi } from "vitest";
import { announceReplacement, creating, deleting, disrupting, noteBound } from "../../../provider/reconcile/container/rolling";

// The permits of rolling.ts, without a host: what runs at once is what the bound allows.
let group = 0;
const props = (name: string, maxUnavailable: number, g: string) => ({ name, rolling: { group: g, maxUnavailable } });
/** The props of a replica whose diff (in this process) said it is replaced, as an up's diff does before its delete. */
const replaced = (name: string, maxUnavailable: number, g: string) => {
  const p = props(name, maxUnavailable, g);
  announceReplacement(p, { changes: true, replaces: ["command"], deleteBeforeReplace: true });
  return p;
};

/** A step that records how many steps of its kind run with it, and ends when told to. */
function steps() {
  let running = 0;
  let most = 0;
  const ends: (() => void)[] = [];
  const step = () =>
    new Promise<void>((resolve) => {
      running++;
      most = Math.max(most, running);
      ends.push(() => {
        running--;
        resolve();
      });
    });
  const tick = () => new Promise((r) => setImmediate(r));
  return { step, ends, tick, most: () => most, running: () => running };
}

describe("rolling: at most maxUnavailable of a group down at once", () => {
  afterEach(() => vi.useRealTimers());

  it("restarts and moves of one group take turns; another group and unbounded containers do not wait", async () => {
    const g = `g${group++}`;
    const s = steps();
    const done = [1, 2, 3].map((i) => disrupting(props(`r-${i}`, 1, g), s.step));
    const other = disrupting(props("o-1", 1, `${g}-other`), s.step);
    const free = disrupting({ name: "solo" }, s.step);
    await s.tick();
    expect(s.running()).toBe(3); // one of the group, the other group's, the unbounded one
    while (s.ends.length) {
      s.ends.shift()!();
      await s.tick();
    }
    await Promise.all([...done, other, free]);
    expect(s.most()).toBe(3);
  });

  it("a replacement holds its permit from its delete to the end of its create", async () => {
    const g = `g${group++}`;
    const s = steps();
    const first = deleting(replaced("r-1", 1, g), s.step);
    await s.tick();
    s.ends.shift()!();
    await first;
    // r-1 is deleted, not yet created: r-2's delete waits
    const second = deleting(replaced("r-2", 1, g), s.step);
    await s.tick();
    expect(s.running()).toBe(0);
    const create = creating(props("r-1", 1, g), s.step);
    await s.tick();
    expect(s.running()).toBe(1); // r-1's create
    s.ends.shift()!();
    await create;
    await s.tick();
    expect(s.running()).toBe(1); // now r-2's delete
    s.ends.shift()!();
    await second;
  });

  it("a replacement's delete that no create follows gives its permit back after 30 s; a failed delete at once", async () => {
    vi.useFakeTimers();
    const g = `g${group++}`;
    await deleting(replaced("gone-1", 1, g), async () => {});
    let started = false;
    const next = deleting(replaced("gone-2", 1, g), async () => {
      started = true;
    });
    await vi.advanceTimersByTimeAsync(29_000);
    expect(started).toBe(false);
    await vi.advanceTimersByTimeAsync(1_500);
    await next;
    expect(started).toBe(true);
    vi.useRealTimers();
    const h = `g${group++}`;
    await expect(deleting(replaced("bad", 1, h), () => Promise.reject(new Error("busy")))).rejects.toThrow("busy");
    await deleting(replaced("after-bad", 1, h), async () => {}); // would wait 30 s if the failed one kept it
  });

  it("deletes no diff called a replacement (a destroy, a replica removed) take no permit: they run at once", async () => {
    const g = `g${group++}`;
    const s = steps();
    const all = [1, 2, 3].map((i) => deleting(props(`d-${i}`, 1, g), s.step));
    await s.tick();
    expect(s.running()).toBe(3);
    s.ends.splice(0).forEach((end) => end());
    await Promise.all(all);
    // and they leave the group's permit free: a replacement's delete still goes at once
    const next = deleting(replaced("d-4", 1, g), s.step);
    await s.tick();
    expect(s.running()).toBe(1);
    s.ends.shift()!();
    await next;
  });

  it("the bound declared at check governs, not the one in the state a delete holds", async () => {
    const g = `g${group++}`;
    noteBound(props("r-1", 2, g));
    const s = steps();
    // the state says 1, the declaration 2: two deletes at once
    const both = [deleting(replaced("r-1", 1, g), s.step), deleting(replaced("r-2", 1, g), s.step)];
    await s.tick();
    expect(s.running()).toBe(2);
    s.ends.splice(0).forEach((end) => end());
    await Promise.all(both);
  });

  it("diff names the replacements past the bound, once each; changes in place and a wider bound name none", () => {
    const g = `g${group++}`;
    const wide = `g${group++}`;
    const said = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const replace = { changes: true, replaces: ["env"], deleteBeforeReplace: true };
      for (const i of [1, 2, 3]) expect(announceReplacement(props(`r-${i}`, 1, g), replace)).toBe(replace);
      announceReplacement(props("r-3", 1, g), replace); // the same replica again: not counted twice
      announceReplacement(props("r-4", 1, g), { changes: true }); // in place: nothing waits
      for (const i of [1, 2, 3]) announceReplacement(props(`w-${i}`, 4, wide), replace);
      announceReplacement({ name: "solo" }, replace);
      const lines = said.mock.calls.map((c) => String(c[0]));
      expect(lines).toEqual([
        `kslice: r-2 is replaced in turn: ${g} takes at most 1 replica(s) down at once, and 1 of its 2 replacements so far wait`,
        `kslice: r-3 is replaced in turn: ${g} takes at most 1 replica(s) down at once, and 2 of its 3 replacements so far wait`,
      ]);
    } finally {
      said.mockRestore();
    }
  });
});
