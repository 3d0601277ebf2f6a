import { describe, expect, it } from "vitest";
import { place, roomFor, type Assignment, type Demand, type PoolHost } from "../../../provider/reconcile/placement";

const Mi = 2 ** 20;
const host = (key: string, more: Partial<PoolHost> = {}): PoolHost => ({
  key, draining: false, memoryBytes: 480 * Mi, cpuMillis: 1000, usedMemoryBytes: 0, usedCpuMillis: 0, ...more,
});
const demand: Demand = { memoryBytes: 32 * Mi, cpuMillis: 100 };
const names = (n: number) => Array.from({ length: n }, (_, i) => `r-${i}`);

function ok(r: ReturnType<typeof place>): { assignments: Record<string, Assignment>; warnings: string[] } {
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
    for (const [name, a] of Object.entries(first.assignments)) if (a.host !== "c") expect(r.assignments[name]).toEqual(a);
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
    for (const [, a] of moved) expect(a.reason).toMatch(/^moved from c to [ab]: c is draining$/);
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
