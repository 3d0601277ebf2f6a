import { execFileSync, execSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/owners/index.js",
    stack: "s",
    config: { "kslice:prefix": prefix },
  });
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

/**
 * kslice as main held it before the Container's lifecycle was split into one file per operation and
 * migration became a step of it (issue 26): a stack it made must preview, refresh and update with no
 * change under the code of today. Built from git history beside this checkout (its own dist and its
 * own `kslice` link, this checkout's other packages), so the engine runs each kslice as a user's would.
 */
describe("a stack made by the kslice before the Container redesign (main at 4c1e573)", () => {
  const before = "4c1e573";
  const p2 = `${testPrefix}-e2o`;
  const port = "18947";
  const old = mkdtempSync(join(tmpdir(), "kslice-before-"));
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/networks/index.js",
    stack: "old",
    config: { "kslice:prefix": p2, "kslice:port": port, "kslice:count": "3", "kslice:backSubnet": "10.232.7.0/24" },
  });
  beforeAll(() => {
    execSync(`git archive ${before} | tar -x -C ${old}`, { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
    mkdirSync(join(old, "node_modules"));
    for (const e of readdirSync(join(repoRoot, "node_modules"))) {
      if (e !== "kslice") symlinkSync(join(repoRoot, "node_modules", e), join(old, "node_modules", e));
    }
    symlinkSync("..", join(old, "node_modules", "kslice"));
    execFileSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
      cwd: old,
      stdio: ["ignore", "ignore", "inherit"],
    });
  }, 600_000);
  afterAll(async () => {
    await stack.dispose();
    rmSync(old, { recursive: true, force: true });
    expect(leaksOf(p2)).toEqual([]);
  });
  let pids: unknown;
  /** Each Container's urn, init pid and address, in urn order (the state's order is the engine's). */
  const containers = () =>
    stack
      .exportResources()
      .filter((r) => r.type.endsWith(":Container"))
      .map((r) => [r.urn, r.outputs.pid, r.outputs.address])
      .sort((x, y) => String(x[0]).localeCompare(String(y[0])));

  it("is made by that kslice (its own runner, program and provider)", async () => {
    const { argv, env } = stack.command("up");
    const at = (a: string) =>
      a
        .replace(join(repoRoot, "dist/scripts/stack.js"), join(old, "dist/scripts/stack.js"))
        .replace(join(repoRoot, "test/fixtures/programs"), join(old, "test/fixtures/programs"))
        .replace(join(repoRoot, "dist/test"), join(old, "dist/test"));
    const out = JSON.parse(execFileSync(argv[0]!, argv.slice(1).map(at), { env, encoding: "utf8", maxBuffer: 64 << 20 })) as {
      outputs: Record<string, unknown>;
    };
    pids = containers();
    expect((pids as unknown[]).length).toBe(4);
    expect(out.outputs.workers).toHaveLength(3);
  }, 600_000);

  it("previews and refreshes with no changes under today's kslice, and an up changes nothing", async () => {
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
    const f = await stack.run("refresh");
    expect(f.ok, f.stderr).toBe(true);
    expect(f.json!.summary).toEqual({ same: 8 });
    const u = await stack.run("up");
    expect(u.ok, u.stderr).toBe(true);
    expect(u.json!.summary).toEqual({ same: 8 });
    expect(containers()).toEqual(pids);
  });
});
