import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { localCgroupFile } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2l`;
const pids = (p: string) => localCgroupFile(prefix, p, "pids.max");
const memMax = (p: string) => localCgroupFile(prefix, p, "memory.max");
const read = (f: string) => readFileSync(f, "utf8").trim();
const limits = (max: string) => JSON.stringify({ memory: { max }, pids: { max: 64 }, cpu: { weight: 300 } });

describe("ResourceLimits through the real engine", () => {
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/limits/index.js",
    config: { "kslice:prefix": prefix, "kslice:tenantLimits": limits("64Mi") },
  });
  afterAll(async () => {
    await stack.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("up creates a tenant and a nested child with their limits", async () => {
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.outputs).toEqual({ tenantPath: "tenant", childPath: "tenant/child" });
    expect(read(memMax("tenant"))).toBe(String(64 * 2 ** 20));
    expect(read(pids("tenant/child"))).toBe("16");
  });

  it("drift: preview --refresh shows the kernel's value, a plain up restores it, then no changes", async () => {
    writeFileSync(pids("tenant"), "99");
    const p = await stack.run("preview", "--refresh");
    expect(p.ok, p.stderr).toBe(true);
    expect(p.json!.summary).toMatchObject({ update: 1 });
    expect(p.stderr).toMatch(/max\s*:\s*64\s*=>\s*99/);
    expect(read(pids("tenant"))).toBe("99"); // preview changes nothing
    const up = await stack.run("up");
    expect(up.json!.summary).toMatchObject({ update: 1 });
    expect(read(pids("tenant"))).toBe("64");
    const again = await stack.run("preview", "--refresh", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
  });

  it("changing a limit updates in place, without replacing the cgroup", async () => {
    stack.config["kslice:tenantLimits"] = limits("128Mi");
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.summary).toEqual({ update: 1, same: 3 });
    expect(read(memMax("tenant"))).toBe(String(128 * 2 ** 20));
  });

  it("destroy removes every node and the prefix root", async () => {
    const r = await stack.run("destroy");
    expect(r.ok, r.stderr).toBe(true);
    expect(leaksOf(prefix)).toEqual([]);
  });
});

describe("shared host setup under parallelism", () => {
  const parallelPrefix = `${testPrefix}-e2p`;
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/many-limits/index.js",
    config: { "kslice:prefix": parallelPrefix, "kslice:count": "40" },
  });
  afterAll(() => stack.dispose());

  it("40 budgets created with --parallel 32 all exist, and destroy leaves nothing", async () => {
    const r = await stack.run("up", "--parallel", "32");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.summary).toEqual({ create: 42 });
    for (let i = 0; i < 40; i++) expect(read(localCgroupFile(parallelPrefix, `slice-${i}`, "pids.max"))).toBe("32");
    const d = await stack.run("destroy", "--parallel", "32");
    expect(d.ok, d.stderr).toBe(true);
    expect(leaksOf(parallelPrefix)).toEqual([]);
  });
});
