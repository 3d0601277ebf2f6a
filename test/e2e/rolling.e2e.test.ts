import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

// a prefix is lowercase (schema/host.ts): KSLICE_TEST_PREFIX may not be
const prefixes = { a: `${testPrefix.toLowerCase()}-ra`, b: `${testPrefix.toLowerCase()}-rb` };
const replicas = ["roll-1", "roll-2", "roll-3", "roll-4"];
const bundle = (host: "a" | "b", replica: string) => `/var/lib/${prefixes[host]}/containers/${replica}`;

/** Whether the replica's cgroup on that host holds a process (read from the kernel). */
function running(host: "a" | "b", replica: string): boolean {
  try {
    return readFileSync(`/sys/fs/cgroup/pids/${prefixes[host]}/${replica}/cgroup.procs`, "utf8").trim() !== "";
  } catch {
    return false;
  }
}

/**
 * The replicas that are down or moving at this moment, seen from outside: a replica is fine when
 * exactly one host holds its bundle and its process runs there; a copy on both hosts (a migration's
 * target made, or the source not yet removed) or no running process is a replica down or moving.
 */
function disturbed(): string[] {
  return replicas.filter((r) => {
    const on = (["a", "b"] as const).filter((h) => existsSync(bundle(h, r)));
    return !(on.length === 1 && running(on[0]!, r));
  });
}

/**
 * The host transactions (one "sh -s" each) an operation ran, traced by the provider
 * (KSLICE_TRACE_COMMANDS: "<end ms> <pid> <target> <ms> <exit> <first line>"), and the most of them
 * that ran at once.
 */
async function traced<T>(tag: string, run: () => Promise<T>): Promise<{ result: T; spans: number; most: number }> {
  const trace = join(tmpdir(), `${prefixes.a}-${tag}-trace.txt`);
  rmSync(trace, { force: true });
  process.env.KSLICE_TRACE_COMMANDS = trace;
  let result: T;
  try {
    result = await run();
  } finally {
    delete process.env.KSLICE_TRACE_COMMANDS;
  }
  const spans = (existsSync(trace) ? readFileSync(trace, "utf8") : "")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f.slice(5).join(" ") === "sh -s")
    .map((f) => ({ from: Number(f[0]) - Number(f[3]), to: Number(f[0]) }));
  rmSync(trace, { force: true });
  const most = spans.length ? Math.max(...spans.map((s) => spans.filter((o) => o.from < s.to && s.from < o.to).length)) : 0;
  return { result, spans: spans.length, most };
}

/** Samples `disturbed()` every 100 ms while `run` goes on: the most seen at once, and every replica seen so. */
async function sampled<T>(run: Promise<T>): Promise<{ result: T; most: number; worst: string[]; seen: Set<string>; samples: number }> {
  const seen = new Set<string>();
  let most = 0;
  let worst: string[] = [];
  let samples = 0;
  const timer = setInterval(() => {
    const now = disturbed();
    samples++;
    now.forEach((r) => seen.add(r));
    if (now.length > most) [most, worst] = [now.length, now];
  }, 100);
  try {
    return { result: await run, most, worst, seen, samples };
  } finally {
    clearInterval(timer);
  }
}

const bornOf = (host: "a" | "b", r: string) => readFileSync(`${bundle(host, r)}/upper/born`, "utf8").trim();

// Issue 29: a drain of one of two hosts took both of its replicas down at once, and an undrain moved
// two back at once with reasons still saying the host was draining. Two prefixes of this machine are
// the two hosts; a sampler outside the engine reads the bundles and the replicas' cgroups every 100 ms.
describe("ContainerSet rolling moves: maxUnavailable through the real engine", () => {
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/rolling/index.js",
    config: { "kslice:aPrefix": prefixes.a, "kslice:bPrefix": prefixes.b },
  });
  afterAll(async () => {
    await stack.dispose();
    expect(leaksOf(prefixes.a)).toEqual([]);
    expect(leaksOf(prefixes.b)).toEqual([]);
  });

  type Assigned = Record<string, { host: "a" | "b"; reason: string; after?: string }>;
  const born: Record<string, string> = {};
  let onA: string[] = [];

  it("4 replicas, 2 per host; a bad maxUnavailable is refused at preview and by up, naming it, changing nothing", async () => {
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    const assigned = up.json!.outputs.assignments as Assigned;
    onA = replicas.filter((r) => assigned[r]!.host === "a");
    expect(onA).toHaveLength(2);
    expect(disturbed()).toEqual([]);
    for (const r of replicas) born[r] = bornOf(assigned[r]!.host, r);

    // each replica's init: the process of its cgroup whose parent is outside it (its sleeps come and go)
    const procs = () =>
      replicas.map((r) => {
        const pids = readFileSync(`/sys/fs/cgroup/pids/${prefixes[assigned[r]!.host]}/${r}/cgroup.procs`, "utf8").trim().split("\n");
        return pids.find(
          (pid) =>
            !pids.includes(
              readFileSync(`/proc/${pid}/stat`, "utf8")
                .replace(/^.*\) /, "")
                .split(" ")[1]!,
            ),
        );
      });
    const before = procs();
    expect(before.every(Boolean)).toBe(true);

    // with a drain declared beside it: the preview refuses it, naming the input, the value and what was expected
    stack.config["kslice:maxUnavailable"] = "0";
    stack.config["kslice:draining"] = "a";
    const preview = await stack.run("preview");
    expect(preview.ok).toBe(false);
    expect(preview.stderr).toContain("maxUnavailable: got 0; expected a whole number from 1 (one replica moves at a time) to replicas (4)");
    // alone, by an up: refused, and nothing on either host changes
    stack.config["kslice:maxUnavailable"] = "1.5";
    stack.config["kslice:draining"] = "none";
    const bad = await stack.run("up");
    expect(bad.ok).toBe(false);
    expect(bad.stderr).toContain("maxUnavailable: got 1.5; expected a whole number from 1 (one replica moves at a time) to replicas (4)");
    expect(procs()).toEqual(before);
    for (const r of replicas) expect(existsSync(bundle(assigned[r]!.host === "a" ? "b" : "a", r))).toBe(false);
    expect(existsSync(`/var/lib/${prefixes.a}/draining`) ? readdirSync(`/var/lib/${prefixes.a}/draining`) : []).toEqual([]);
    expect(disturbed()).toEqual([]);
  });

  it("a drain with maxUnavailable 1: the preview says what moves now and what later; never two replicas down or moving at once", async () => {
    stack.config["kslice:maxUnavailable"] = "1";
    stack.config["kslice:draining"] = "a";
    const preview = await stack.run("preview");
    expect(preview.ok, preview.stderr).toBe(true);
    const [first, second] = onA;
    // the engine's own display of the Placement's answer: the first move now, the second after it
    expect(preview.stderr).toContain(`"moved from a to b: a is draining (move 1 of 2; at most 1 at a time)"`);
    expect(preview.stderr).toMatch(new RegExp(`\\+ after\\s*: "${first}"`));
    expect(preview.stderr).toContain(`"moved from a to b: a is draining (move 2 of 2, after ${first}; at most 1 at a time)"`);
    // and the Placement's note in one line, among the diagnostics the runner prints after a --diff preview
    expect(preview.stderr).toContain(`kslice: 2 replica(s) move, at most 1 at a time: now ${first} (a → b); later ${second} (a → b) after ${first}`);

    const { result: up, most, worst, seen, samples } = await sampled(stack.run("up"));
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).toContain(`kslice: 2 replica(s) move, at most 1 at a time: now ${first} (a → b); later ${second} (a → b) after ${first}`);
    console.log(`[rolling] drain: ${samples} samples, at most ${most} replica(s) down or moving at once (${worst.join(", ")}); moved: ${[...seen].join(", ")}`);
    // the sampler saw each move (it works), and never two at once (the bound holds)
    expect([...seen].sort()).toEqual([...onA].sort());
    expect(most).toBe(1);
    const assigned = up.json!.outputs.assignments as Assigned;
    for (const r of replicas) expect(assigned[r]!.host).toBe("b");
    expect(assigned[first!]!.reason).toBe("moved from a to b: a is draining (move 1 of 2; at most 1 at a time)");
    expect(assigned[second!]).toEqual({
      host: "b",
      after: first,
      reason: `moved from a to b: a is draining (move 2 of 2, after ${first}; at most 1 at a time)`,
    });
    // the two that were on b already say where they are now, not how they were placed
    for (const r of replicas.filter((r) => !onA.includes(r))) {
      expect(assigned[r]!.reason).toBe("kept on b (4 there; spread over 1 eligible host(s))");
    }
    // moved with their data, not rebuilt
    for (const r of replicas) expect(bornOf("b", r)).toBe(born[r]);
    expect(disturbed()).toEqual([]);

    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
  });

  it("an undrain: the rebalance back is bounded the same way, and no reason says a is draining any more", async () => {
    // (the runner keeps config set earlier: name no host rather than unset it)
    stack.config["kslice:draining"] = "none";
    const preview = await stack.run("preview");
    expect(preview.ok, preview.stderr).toBe(true);
    expect(preview.stderr).toMatch(/"moved from b to a: spread \(now 1 there\) \(move 1 of 2; at most 1 at a time\)"/);
    expect(preview.stderr).toMatch(/"moved from b to a: spread \(now 2 there\) \(move 2 of 2, after roll-\d; at most 1 at a time\)"/);

    const { result: up, most, worst, seen, samples } = await sampled(stack.run("up"));
    expect(up.ok, up.stderr).toBe(true);
    console.log(
      `[rolling] undrain: ${samples} samples, at most ${most} replica(s) down or moving at once (${worst.join(", ")}); moved: ${[...seen].join(", ")}`,
    );
    expect(seen.size).toBe(2);
    expect(most).toBe(1);
    const assigned = up.json!.outputs.assignments as Assigned;
    const back = replicas.filter((r) => assigned[r]!.host === "a");
    expect(back.sort()).toEqual([...seen].sort());
    expect(back).toHaveLength(2);
    for (const r of replicas) expect(assigned[r]!.reason).not.toContain("draining");
    for (const r of replicas.filter((r) => !back.includes(r))) {
      expect(assigned[r]!.reason).toBe("kept on b (2 there; spread over 2 eligible host(s) on 1 machine(s))");
    }
    for (const r of replicas) expect(bornOf(assigned[r]!.host, r)).toBe(born[r]);
    expect(disturbed()).toEqual([]);

    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
  });

  // A template change replaces every replica (env is not something a running container can take):
  // the replacements share the bound with the moves, each replica's delete and create holding one
  // permit of the set. Control: with the bound at 4 the same change is seen taking several down at once.
  const replaced = async (version: string, bound: string) => {
    stack.config["kslice:version"] = version;
    stack.config["kslice:maxUnavailable"] = bound;
    const hostBefore = Object.fromEntries(replicas.map((r) => [r, (["a", "b"] as const).find((h) => existsSync(bundle(h, r)))!]));
    const bornBefore = Object.fromEntries(replicas.map((r) => [r, bornOf(hostBefore[r]!, r)]));
    // the preview names the replacements past the bound, which wait for a turn; so does the up's own diff
    // (the up's display lists each diagnostic twice: as it comes, and again at the end)
    const waiting = (out: string) => [...new Set(out.match(/kslice: roll-\d is replaced in turn: \S+ takes at most \d+ replica\(s\) down at once/g))];
    const preview = await stack.run("preview");
    expect(preview.ok, preview.stderr).toBe(true);
    expect(waiting(preview.stderr), preview.stderr).toHaveLength(Math.max(0, replicas.length - Number(bound)));
    const {
      result: { result: up, most, worst, seen, samples },
      most: transactions,
    } = await traced(`v${version}`, () => sampled(stack.run("up")));
    expect(up.ok, up.stderr).toBe(true);
    expect(waiting(up.stderr)).toHaveLength(Math.max(0, replicas.length - Number(bound)));
    console.log(
      `[rolling] template change, maxUnavailable ${bound}: ${samples} samples, at most ${most} down at once (${worst.join(", ")}); down: ${[...seen].join(", ")}; at most ${transactions} transactions at once`,
    );
    const assigned = up.json!.outputs.assignments as Assigned;
    // every replica was replaced where it was (a new writable layer), and the sampler saw each one down
    for (const r of replicas) {
      expect(assigned[r]!.host).toBe(hostBefore[r]);
      expect(bornOf(assigned[r]!.host, r)).not.toBe(bornBefore[r]);
    }
    expect([...seen].sort()).toEqual([...replicas].sort());
    expect(disturbed()).toEqual([]);
    const again = await stack.run("preview", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
    return { most, transactions };
  };

  it("a template change replaces the replicas at most maxUnavailable at a time; with the bound at 4, several at once", async () => {
    // one at a time, seen from outside and in the host transactions (each delete and create in turn)
    expect(await replaced("2", "1")).toEqual({ most: 1, transactions: 1 });
    // the control: with room for all four, replacements run at once. Each one's delete is a host
    // transaction of seconds (the old init takes its grace to stop), so they are seen overlapping;
    // the sampler may still catch only one replica down at a time on a loaded machine
    expect((await replaced("3", "4")).transactions).toBeGreaterThan(1);
  });

  // A removed replica is not down, it is gone: its delete takes no turn. Taking one would hold the
  // set's permit for the create that replaces it, which never comes (a destroy of N replicas ran one
  // per 30 s). Every command the provider runs is traced: the deletes' transactions overlap in time.
  it("scaling down with maxUnavailable 1 removes the replicas at once, not in turn", async () => {
    Object.assign(stack.config, { "kslice:maxUnavailable": "1", "kslice:replicas": "1" });
    const { result: up, spans, most } = await traced("scale", () => stack.run("up"));
    expect(up.ok, up.stderr).toBe(true);
    expect(replicas.filter((r) => existsSync(bundle("a", r)) || existsSync(bundle("b", r)))).toEqual(["roll-1"]);
    console.log(`[rolling] scale 4 → 1, maxUnavailable 1: ${spans} transactions, at most ${most} at once`);
    expect(spans).toBeGreaterThanOrEqual(3);
    expect(most).toBeGreaterThanOrEqual(2);
  });
});
