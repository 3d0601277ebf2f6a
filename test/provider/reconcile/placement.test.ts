import { describe, expect, it } from "vitest";
import { describeMoves, place, roomFor, stillTrue, type Assignment, type Demand, type Move, type PoolHost } from "../../../provider/reconcile/placement";

const Mi = 2 ** 20;
const host = (key: string, more: Partial<PoolHost> = {}): PoolHost => ({
  key,
  draining: false,
  memoryBytes: 480 * Mi,
  cpuMillis: 1000,
  usedMemoryBytes: 0,
  usedCpuMillis: 0,
  ...more,
});
const demand: Demand = { memoryBytes: 32 * Mi, cpuMillis: 100 };
const names = (n: number) => Array.from({ length: n }, (_, i) => `r-${i}`);

function ok(r: ReturnType<typeof place>): { assignments: Record<string, Assignment>; warnings: string[]; moves: Move[] } {
  if (!r.ok) throw new Error(r.reason);
  return r;
}
const counts = (a: Record<string, Assignment>) => {
  const out: Record<string, number> = {};
  for (const { host } of Object.values(a)) out[host] = (out[host] ?? 0) + 1;
  return out;
};

describe("place: spread", () => {
  it("6 replicas over 3 hosts: 2 per host", () => {
    const r = ok(place(names(6), [host("a"), host("b"), host("c")], demand, {}));
    expect(counts(r.assignments)).toEqual({ a: 2, b: 2, c: 2 });
    expect(r.assignments["r-0"]!.reason).toMatch(/^placed on a/);
  });

  it("never two on one host while another eligible host has room", () => {
    const r = ok(place(names(3), [host("a"), host("b"), host("c")], demand, {}));
    expect(counts(r.assignments)).toEqual({ a: 1, b: 1, c: 1 });
  });

  it("a host with room for one only takes one; the others take the rest", () => {
    const r = ok(place(names(5), [host("a", { usedMemoryBytes: 440 * Mi }), host("b"), host("c")], demand, {}));
    expect(counts(r.assignments)).toEqual({ a: 1, b: 2, c: 2 });
  });

  it("no demand declared: spread by count alone", () => {
    const r = ok(place(names(4), [host("a"), host("b")], { memoryBytes: 0, cpuMillis: 0 }, {}));
    expect(counts(r.assignments)).toEqual({ a: 2, b: 2 });
  });
});

describe("place: stable", () => {
  it("the same inputs with the previous answer give the same answer, reasons included", () => {
    const pool = [host("a"), host("b"), host("c")];
    const first = ok(place(names(6), pool, demand, {}));
    const second = ok(place(names(6), pool, demand, first.assignments));
    expect(second.assignments).toEqual(first.assignments);
    expect(second.warnings).toEqual([]);
  });

  it("an unbalanced but valid previous answer from fewer hosts is rebalanced only as far as spread needs", () => {
    const previous = { "r-0": { host: "a" }, "r-1": { host: "a" }, "r-2": { host: "b" }, "r-3": { host: "b" } };
    const r = ok(place(names(4), [host("a"), host("b"), host("c")], demand, previous));
    expect(counts(r.assignments)).toEqual({ a: 2, b: 1, c: 1 });
    // the ones kept are the first on each host; one of b's moved to the new host c
    expect(r.assignments["r-0"]!.host).toBe("a");
    expect(r.assignments["r-2"]!.host).toBe("b");
    expect(r.assignments["r-3"]).toEqual({ host: "c", reason: expect.stringMatching(/^moved from b to c: spread/) });
  });

  it("a scale-up keeps every existing replica where it is", () => {
    const pool = [host("a"), host("b"), host("c")];
    const three = ok(place(names(3), pool, demand, {}));
    const six = ok(place(names(6), pool, demand, three.assignments));
    for (const r of names(3)) expect(six.assignments[r]).toEqual(three.assignments[r]);
    expect(counts(six.assignments)).toEqual({ a: 2, b: 2, c: 2 });
  });

  it("a host taken out of the pool: its replicas move, the others stay", () => {
    const first = ok(place(names(6), [host("a"), host("b"), host("c")], demand, {}));
    const r = ok(place(names(6), [host("a"), host("b")], demand, first.assignments));
    expect(counts(r.assignments)).toEqual({ a: 3, b: 3 });
    // the others stay, their reasons restated for the pool they are spread over now
    for (const [name, a] of Object.entries(first.assignments)) {
      if (a.host !== "c") expect(r.assignments[name]).toEqual({ host: a.host, reason: `kept on ${a.host} (3 there; spread over 2 eligible host(s))` });
    }
    expect(Object.values(r.assignments).filter((a) => /left the pool/.test(a.reason))).toHaveLength(2);
  });
});

describe("place: drain, unreachable, limits raised", () => {
  const pool = [host("a"), host("b"), host("c")];
  const first = ok(place(names(6), pool, demand, {}));

  it("a draining host: its replicas go to the others (3 per host), nothing else moves", () => {
    const r = ok(place(names(6), [host("a"), host("b"), host("c", { draining: true })], demand, first.assignments));
    expect(counts(r.assignments)).toEqual({ a: 3, b: 3 });
    const moved = Object.entries(r.assignments).filter(([name, a]) => a.host !== first.assignments[name]!.host);
    expect(moved.map(([name]) => first.assignments[name]!.host)).toEqual(["c", "c"]);
    for (const [, a] of moved) expect(a.reason).toMatch(/^moved from c to [ab]: c is draining \(move [12] of 2(, after r-\d)?; at most 1 at a time\)$/);
    const stayed = Object.entries(r.assignments).filter(([name, a]) => a.host === first.assignments[name]!.host);
    for (const [, a] of stayed) expect(a.reason).toBe(`kept on ${a.host} (3 there; spread over 2 eligible host(s))`);
    expect(r.warnings).toEqual([]);
  });

  it("an unreachable host: its replicas are re-placed on the reachable ones, with a warning each", () => {
    const r = ok(place(names(6), [host("a"), host("b", { unreachable: "connection refused" }), host("c")], demand, first.assignments));
    expect(counts(r.assignments)).toEqual({ a: 3, c: 3 });
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/host b is unreachable \(connection refused\); recreated on [ac]/);
  });

  it("undraining moves nothing back (stable), until spread needs it", () => {
    const drained = ok(place(names(6), [host("a"), host("b"), host("c", { draining: true })], demand, first.assignments));
    const back = ok(place(names(6), pool, demand, drained.assignments));
    // 3,3,0 over three eligible hosts is unbalanced: spread moves one from each of a and b to c
    expect(counts(back.assignments)).toEqual({ a: 2, b: 2, c: 2 });
    for (const a of Object.values(back.assignments))
      expect(a.reason).toMatch(
        /^(kept on [ab] \(2 there; spread over 3 eligible host\(s\)\)|moved from [ab] to c: spread \(now [12] there\) \(move [12] of 2(, after r-\d)?; at most 1 at a time\))$/,
      );
  });

  it("raised limits: a replica whose host no longer has room moves, saying why", () => {
    // a has others' 380Mi declared: room for one 64Mi replica, not two
    const tight = [host("a", { usedMemoryBytes: 380 * Mi }), host("b"), host("c")];
    const before = ok(place(names(6), tight, demand, {}));
    expect(counts(before.assignments)).toEqual({ a: 2, b: 2, c: 2 });
    const raised = { memoryBytes: 64 * Mi, cpuMillis: 100 };
    const r = ok(place(names(6), tight, raised, before.assignments));
    expect(counts(r.assignments).a).toBe(1);
    const moved = Object.entries(r.assignments).filter(([n, a]) => a.host !== before.assignments[n]!.host);
    expect(moved).toHaveLength(1);
    expect(moved[0]![1].reason).toMatch(/^moved from a to [bc]: no room on a \(a: room for 1 \(memory 100Mi free of 480Mi/);
  });
});

describe("place: refused", () => {
  it("not enough room anywhere: names every host's room and the shortfall", () => {
    const big = { memoryBytes: 300 * Mi, cpuMillis: 0 };
    const r = place(names(6), [host("a"), host("b", { draining: true }), host("c", { unreachable: "timed out" })], big, {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe(
      "6 replica(s) of memory 300Mi each do not fit: the pool has room for 1, short by 5 (memory 1500Mi); " +
        "a: room for 1 (memory 480Mi free of 480Mi); b: draining; c: unreachable (timed out)",
    );
  });

  it("cpu counts too: 3 replicas of 0.6 cores on two 1-CPU hosts", () => {
    const r = place(names(3), [host("a"), host("b")], { memoryBytes: 0, cpuMillis: 600 }, {});
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/room for 2, short by 1 \(cpu 0.6 cores\); a: room for 1 \(cpu 1 cores free of 1 cores\)/);
  });

  it("the same host twice in the pool", () => {
    const r = place(names(2), [host("a"), host("a")], demand, {});
    expect(r).toEqual({ ok: false, reason: "host a is in the pool twice" });
  });
});

describe("roomFor", () => {
  it("counts what others declared and caps at the limit", () => {
    expect(roomFor(host("a", { usedMemoryBytes: 400 * Mi }), demand, 10)).toBe(2);
    expect(roomFor(host("a", { usedCpuMillis: 950 }), demand, 10)).toBe(0);
    expect(roomFor(host("a"), { memoryBytes: 0, cpuMillis: 0 }, 4)).toBe(4);
  });
});

describe("place: hosts that are prefixes of one machine", () => {
  const Gi = 1024 * Mi;
  // what every prefix's probe of one machine reports: the machine's figures, what is declared on it
  const onMachine = (key: string, machine: string, more: Partial<PoolHost> = {}) => host(key, { machine, memoryBytes: 24 * Gi, cpuMillis: 2000, ...more });

  it("counts the machine's memory once: 4 replicas of 10Gi do not fit two prefixes of one 24Gi machine", () => {
    const r = place(names(4), [onMachine("a", "m1"), onMachine("b", "m1")], { memoryBytes: 10 * Gi, cpuMillis: 0 }, {});
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/room for 2, short by 2.*a: room for 2 .*shared with b \(one machine\)/);
  });

  it("spreads across machines first: 2 replicas over a, b (one machine) and c go to two machines", () => {
    const r = ok(place(names(2), [onMachine("a", "m1"), onMachine("b", "m1"), onMachine("c", "m2")], demand, {}));
    expect(counts(r.assignments)).toEqual({ a: 1, c: 1 });
    expect(r.assignments["r-0"]!.reason).toMatch(/spread over 3 eligible host\(s\) on 2 machine\(s\)/);
  });

  it("4 replicas over a, b (one machine) and c: 2 on each machine, the machine's 2 split between its prefixes", () => {
    const r = ok(place(names(4), [onMachine("a", "m1"), onMachine("b", "m1"), onMachine("c", "m2")], demand, {}));
    expect(counts(r.assignments)).toEqual({ a: 1, b: 1, c: 2 });
  });

  it("warns when the pool has fewer machines than hosts, naming them", () => {
    const r = ok(place(names(2), [onMachine("a", "m1"), onMachine("b", "m1")], demand, {}));
    expect(r.warnings).toEqual([expect.stringMatching(/2 reachable host\(s\) are 1 machine\(s\): a, b are prefixes of one machine \(machine-id m1\)/)]);
    expect(ok(place(names(2), [onMachine("a", "m1"), onMachine("c", "m2")], demand, {})).warnings).toEqual([]);
  });

  it("is stable: the same inputs with the previous answer give the same answer", () => {
    const pool = [onMachine("a", "m1"), onMachine("b", "m1"), onMachine("c", "m2")];
    const first = ok(place(names(5), pool, demand, {}));
    expect(ok(place(names(5), pool, demand, first.assignments)).assignments).toEqual(first.assignments);
  });
});

/**
 * Runs the moves as the engine runs the set's Containers: every move starts as soon as the one it
 * waits for (`after`) has finished, each taking the time `duration` gives it; returns the most that
 * were moving at one moment.
 */
function mostAtOnce(moves: readonly Move[], duration: (m: Move, i: number) => number): number {
  const end = new Map<string, number>();
  const start = new Map<string, number>();
  // `after` always names an earlier move, so one pass in order settles every start
  moves.forEach((m, i) => {
    const s = m.after === undefined ? 0 : end.get(m.after)!;
    expect(s, `${m.replica} waits for ${m.after}, which must come before it`).toBeDefined();
    start.set(m.replica, s);
    end.set(m.replica, s + duration(m, i));
  });
  const instants = [...start.values()];
  return Math.max(0, ...instants.map((t) => moves.filter((m) => start.get(m.replica)! <= t && t < end.get(m.replica)!).length));
}

describe("place: rolling moves (maxUnavailable)", () => {
  const two = [host("a"), host("b")];
  const before = ok(place(names(4), two, demand, {}));
  const drainB = [host("a"), host("b", { draining: true })];

  it("a drain of 2 of 4 replicas with the default bound: the second move waits for the first", () => {
    expect(counts(before.assignments)).toEqual({ a: 2, b: 2 });
    const r = ok(place(names(4), drainB, demand, before.assignments));
    expect(counts(r.assignments)).toEqual({ a: 4 });
    const [first, second] = r.moves;
    expect(r.moves).toHaveLength(2);
    expect(first).toEqual({ replica: expect.any(String), from: "b", to: "a" });
    expect(second).toEqual({ replica: expect.any(String), from: "b", to: "a", after: first!.replica });
    expect(r.assignments[first!.replica]!.reason).toBe("moved from b to a: b is draining (move 1 of 2; at most 1 at a time)");
    expect(r.assignments[second!.replica]).toEqual({
      host: "a",
      after: first!.replica,
      reason: `moved from b to a: b is draining (move 2 of 2, after ${first!.replica}; at most 1 at a time)`,
    });
    // the replicas that stay are not part of the roll; their reasons say where they are now
    for (const name of names(4).filter((n) => before.assignments[n]!.host === "a")) {
      expect(before.assignments[name]!.reason).toMatch(/^placed on a \(now [12] there; spread over 2 eligible host\(s\)\)$/);
      expect(r.assignments[name]).toEqual({ host: "a", reason: "kept on a (4 there; spread over 1 eligible host(s))" });
    }
  });

  it.each([1, 2, 3])("maxUnavailable %i: never more moving at once than the bound, whatever each move takes", (bound) => {
    const six = [host("a"), host("b"), host("c")];
    const first = ok(place(names(9), six, demand, {}));
    const r = ok(
      place(names(9), [host("a"), host("b", { draining: true }), host("c", { draining: true })], demand, first.assignments, { maxUnavailable: bound }),
    );
    expect(r.moves).toHaveLength(6);
    expect(r.moves.filter((m) => m.after === undefined)).toHaveLength(bound);
    for (const durations of [() => 1, (_: Move, i: number) => 1 + (i % 3), (_: Move, i: number) => 7 - i, (_: Move, i: number) => ((i * 37) % 5) + 0.5]) {
      expect(mostAtOnce(r.moves, durations)).toBe(bound);
    }
  });

  it("the bound broken (every move at once) is what the check above catches", () => {
    const r = ok(place(names(4), drainB, demand, before.assignments));
    expect(
      mostAtOnce(
        r.moves.map(({ after: _, ...m }) => m),
        () => 1,
      ),
    ).toBe(2);
  });

  it("a host left out of the pool and a host without room after raised limits: those moves are bounded too", () => {
    const three = ok(place(names(6), [host("a"), host("b"), host("c")], demand, {}));
    const left = ok(place(names(6), [host("a"), host("b")], demand, three.assignments));
    expect(left.moves.map((m) => [m.from, m.after === undefined])).toEqual([
      ["c", true],
      ["c", false],
    ]);
    const tight = [host("a", { usedMemoryBytes: 300 * Mi }), host("b"), host("c")];
    const before6 = ok(place(names(6), tight, demand, {}));
    const raised = ok(place(names(6), tight, { memoryBytes: 128 * Mi, cpuMillis: 100 }, before6.assignments));
    expect(raised.moves).toHaveLength(1);
    expect(raised.assignments[raised.moves[0]!.replica]!.reason).toMatch(/^moved from a to [bc]: no room on a .*\(move 1 of 1; at most 1 at a time\)$/);
  });

  it("maxUnavailable equal to the replicas: every move at once, none waits", () => {
    const r = ok(place(names(4), drainB, demand, before.assignments, { maxUnavailable: 4 }));
    expect(r.moves.map((m) => m.after)).toEqual([undefined, undefined]);
    expect(Object.values(r.assignments).every((a) => a.after === undefined)).toBe(true);
  });

  it("replicas recreated away from an unreachable host do not wait and are not counted", () => {
    const r = ok(place(names(4), [host("a"), host("b", { unreachable: "timed out" })], demand, before.assignments));
    expect(r.moves).toEqual([]);
    expect(Object.values(r.assignments).every((a) => a.after === undefined)).toBe(true);
  });

  it("is stable: the answer after a drain, given itself, is the same word for word (waits included)", () => {
    const r = ok(place(names(4), drainB, demand, before.assignments));
    const again = ok(place(names(4), drainB, demand, r.assignments));
    expect(again.assignments).toEqual(r.assignments);
    expect(again.moves).toEqual([]);
  });

  it("an undrain: the rebalance back is bounded the same way, and no reason says a host is draining any more", () => {
    const drained = ok(place(names(4), drainB, demand, before.assignments));
    const back = ok(place(names(4), two, demand, drained.assignments));
    expect(counts(back.assignments)).toEqual({ a: 2, b: 2 });
    expect(back.moves).toHaveLength(2);
    expect(back.moves[1]!.after).toBe(back.moves[0]!.replica);
    expect(mostAtOnce(back.moves, () => 1)).toBe(1);
    for (const a of Object.values(back.assignments)) expect(a.reason).not.toMatch(/draining/);
    // the two that stay on a say where they are now
    const stayed = Object.entries(back.assignments).filter(([n]) => !back.moves.some((m) => m.replica === n));
    expect(stayed).toHaveLength(2);
    for (const [, a] of stayed) expect(a).toEqual({ host: "a", reason: "kept on a (2 there; spread over 2 eligible host(s))" });
    for (const m of back.moves) expect(back.assignments[m.replica]!.reason).toMatch(/^moved from a to b: spread \(now [12] there\) \(move [12] of 2/);
    // and that answer is stable too
    expect(ok(place(names(4), two, demand, back.assignments)).assignments).toEqual(back.assignments);
  });

  it("a reason citing a host's state holds only while that state does", () => {
    const pool = [host("a"), host("b", { draining: true }), host("c", { unreachable: "timed out" })];
    expect(stillTrue("moved from b to a: b is draining (move 1 of 1; at most 1 at a time)", pool)).toBe(true);
    expect(stillTrue("moved from a to b: a is draining", pool)).toBe(false);
    expect(stillTrue("moved from c to a: c is unreachable (timed out)", pool)).toBe(true);
    expect(stillTrue("moved from a to b: a is unreachable (timed out)", pool)).toBe(false);
    expect(stillTrue("moved from d to a: d left the pool", pool)).toBe(true);
    expect(stillTrue("moved from a to b: a left the pool", pool)).toBe(false);
    expect(stillTrue("moved from a to b: spread (now 2 there)", pool)).toBe(true);
  });

  it("describeMoves says what moves now and what later", () => {
    const r = ok(place(names(4), drainB, demand, before.assignments));
    const [first, second] = r.moves;
    expect(describeMoves(r.moves, 1)).toBe(
      `2 replica(s) move, at most 1 at a time: now ${first!.replica} (b → a); later ${second!.replica} (b → a) after ${first!.replica}`,
    );
    expect(describeMoves([], 1)).toBe("");
  });
});
