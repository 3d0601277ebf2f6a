import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostLifecycle } from "../../../provider/reconcile/host";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { placementLifecycle } from "../../../provider/reconcile/placement-lifecycle";
import { localHost, type HostUnderTest } from "../../helpers/host";
import { testPrefix } from "../../helpers/prefix";

// Two Hosts that are two prefixes of this one machine (same machine-id): one kernel, one failure
// domain, its memory counted once, and what a third prefix declares there counted too (issue 25).
const prefixes = { a: `${testPrefix}-pma`, b: `${testPrefix}-pmb`, c: `${testPrefix}-pmc` };
const local = { type: "local" as const };
const owner = (stack: string, name: string) => `urn:pulumi:${stack}::placement::kslice:index:Host::${name}`;
const hostOf = (prefix: string) => ({ connection: local, prefix });

describe("Placement over prefixes of one machine", () => {
  let h: HostUnderTest;
  let total = 0;
  const check = (replicas: number, memoryBytes: number) =>
    placementLifecycle.check(
      {},
      {
        replicas: Array.from({ length: replicas }, (_, i) => `pm-${i + 1}`),
        hosts: [
          { key: "a", host: hostOf(prefixes.a) },
          { key: "b", host: hostOf(prefixes.b) },
        ],
        limits: { memory: { max: memoryBytes } },
      },
    );

  beforeAll(async () => {
    h = await localHost();
    total = h.facts.memoryTotalBytes;
    for (const [k, prefix] of Object.entries(prefixes)) {
      const c = await hostLifecycle.check({}, { connection: local, prefix, owner: owner(`s${k}`, k) });
      await hostLifecycle.create(c.inputs!);
    }
  });

  afterAll(async () => {
    await limitsLifecycle.delete("", { host: hostOf(prefixes.c), name: "big", owner: owner("sc", "big") }).catch(() => undefined);
    for (const [k, prefix] of Object.entries(prefixes))
      await hostLifecycle.delete("", { connection: local, prefix, runtime: "auto", owner: owner(`s${k}`, k) });
    for (const prefix of Object.values(prefixes)) expect(await h.leaks(prefix)).toEqual([]);
  });

  it("counts the machine once: 4 replicas of just over a third of its memory are refused, naming both prefixes as one machine", async () => {
    // over a third whatever the total: ceil(total / 3) is exactly a third where 3 divides it (room for 3)
    const r = await check(4, Math.floor(total / 3) + 1);
    expect(r.failures?.[0]?.reason).toMatch(/the pool has room for 2, short by 2/);
    expect(r.failures?.[0]?.reason).toMatch(/a: room for 2 .*shared with b \(one machine\)/);
  });

  it("spreads 2 small replicas over both prefixes and warns that the pool is one machine", async () => {
    const r = await check(2, 32 * 2 ** 20);
    expect(r.failures).toBeUndefined();
    const assignments = r.inputs!.assignments as Record<string, { host: string; reason: string }>;
    expect(
      Object.values(assignments)
        .map((x) => x.host)
        .sort(),
    ).toEqual(["a", "b"]);
    expect(assignments["pm-1"]!.reason).toMatch(/spread over 2 eligible host\(s\) on 1 machine\(s\)/);
    expect(r.inputs!.warnings).toEqual([
      expect.stringMatching(new RegExp(`2 reachable host\\(s\\) are 1 machine\\(s\\): a, b are prefixes of one machine \\(machine-id ${h.facts.machineId}\\)`)),
    ]);
  });

  it("counts what another prefix of the machine declares", async () => {
    const half = Math.floor(total / 2);
    const c = await limitsLifecycle.check({}, { host: hostOf(prefixes.c), name: "big", limits: { memory: { max: half } }, owner: owner("sc", "big") });
    expect(c.failures).toBeUndefined();
    await limitsLifecycle.create(c.inputs!);
    forgetReads();
    // a third of the machine each: 2 fit on an empty machine, 1 beside prefix c's half
    const r = await check(2, Math.ceil(total / 3));
    expect(r.failures?.[0]?.reason).toMatch(/the pool has room for 1, short by 1/);
  });
});
