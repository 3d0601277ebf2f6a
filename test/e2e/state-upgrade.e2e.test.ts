import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive } from "../helpers/procs";
import { pulumiBin, repoRoot, TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2u`;
const kinds: Record<string, string> = { Host: "host", ResourceLimits: "limits", Container: "container", Network: "network", Placement: "placement" };
// the __provider text kslice's resources held until the one-line shim: the SDK's serialized closure
const serialized = (kind: string) => readFileSync(join(repoRoot, "test/fixtures/state/serialized-shim.txt"), "utf8").replace('kind: "KIND"', `kind: "${kind}"`);

interface StateResource {
  type: string;
  sourcePosition?: string;
  stackTrace?: unknown[];
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

describe("a stack whose state was written by an earlier kslice (its __provider a serialized closure)", () => {
  const stack = new TestStack("test/fixtures/programs", { program: "dist/test/fixtures/programs/owners/index.js", stack: "s", config: { "kslice:prefix": prefix } });
  const pulumi = (...args: string[]) => {
    const { env } = stack.command("outputs");
    return execFileSync(join(pulumiBin(), "pulumi"), [...args, "--stack", "s"], { cwd: join(stack.backend, "work"), env, encoding: "utf8" });
  };
  const providers = () =>
    (JSON.parse(pulumi("stack", "export")).deployment.resources as StateResource[])
      .filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/kslice:"))
      .flatMap((r) => [r.inputs?.__provider, r.outputs?.__provider]);
  afterAll(async () => {
    await stack.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });
  let pid = 0;

  it("is written as such (the state exported, every kslice resource's __provider replaced, imported)", async () => {
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    pid = r.json!.outputs.sharedPid as number;
    expect(providers().every((p) => typeof p === "string" && p.length < 120)).toBe(true);
    const state = JSON.parse(pulumi("stack", "export"));
    // constructed with Error.stackTraceLimit 0 (shim.ts): the SDK still records where each resource was declared
    const mine = (state.deployment.resources as StateResource[]).filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/kslice:"));
    expect(mine.length).toBe(3);
    for (const r of mine) {
      expect(r.sourcePosition).toMatch(/^project:\/\/\/.*#\d+,\d+$/);
      expect(r.stackTrace?.length).toBeGreaterThan(1);
    }
    for (const res of state.deployment.resources as StateResource[]) {
      const kind = kinds[res.type.replace("pulumi-nodejs:dynamic/kslice:", "")];
      if (!res.type.startsWith("pulumi-nodejs:dynamic/kslice:") || !kind) continue;
      for (const side of [res.inputs, res.outputs]) if (side) side.__provider = serialized(kind);
    }
    const file = join(stack.backend, "state.json");
    writeFileSync(file, JSON.stringify(state));
    pulumi("stack", "import", "--file", file);
    const now = providers();
    expect(now.length).toBe(6);
    expect(now.every((p) => typeof p === "string" && p.includes("__f7") && p.length > 1500)).toBe(true);
  });

  it("previews and refreshes with no changes, and an up leaves the containers running as they were", async () => {
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
    const f = await stack.run("refresh");
    expect(f.ok, f.stderr).toBe(true);
    expect(f.json!.summary).toEqual({ same: 4 });
    const u = await stack.run("up");
    expect(u.ok, u.stderr).toBe(true);
    expect(u.json!.summary).toEqual({ same: 4 });
    expect(u.json!.outputs.sharedPid).toBe(pid);
    expect(alive(pid)).toBe(true);
  });

  it("destroys with the state's serialized provider (a delete runs what the state holds)", async () => {
    // the outputs still hold the serialized closure (an up with no changes keeps them)
    expect(providers().some((p) => typeof p === "string" && p.includes("__f7"))).toBe(true);
    const d = await stack.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    expect(alive(pid)).toBe(false);
    expect(existsSync(`/var/lib/${prefix}/containers/shared`)).toBe(false);
  });
});
