import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { localRuntime } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { sh } from "../helpers/networks";
import { alive, sleep } from "../helpers/procs";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const pinned = JSON.parse(readFileSync("package.json", "utf8")).dependencies["@pulumi/pulumi"];

describe("examples/quickstart through the real engine", () => {
  // its own subnet and port, so that a demo stack left up on this host does not collide
  const stack = new TestStack("examples/quickstart", {
    config: {
      "kslice:prefix": testPrefix,
      "kslice:subnet": "10.234.0.0/24",
      "kslice:dynamicRange": "10.234.0.128/25",
      "kslice:webAddress": "10.234.0.10",
      "kslice:webPort": "18961",
    },
  });
  afterAll(() => stack.dispose());

  it("up creates the Host with facts that agree with the kernel", async () => {
    const r = await stack.run("up");
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.ok).toBe(true);
    console.log(`e2e ran pulumi v${r.json!.pulumiVersion}`);
    expect(r.json!.pulumiVersion).toBe(pinned);
    expect(r.json!.summary).toMatchObject({ create: 7 });
    const out = r.json!.outputs as { host: Record<string, unknown>; containers: Record<string, { pid: number; status: string }> };
    expect(out.host.kernelRelease).toBe(execFileSync("uname", ["-r"], { encoding: "utf8" }).trim());
    expect(out.host.cpuCount).toBe(Number(execFileSync("nproc", { encoding: "utf8" })));
    expect(["legacy", "hybrid", "unified"]).toContain(out.host.cgroupMode);
    expect(out.host.runtime).toMatch(/^(runc|crun) \d/);
    for (const c of Object.values(out.containers)) {
      expect(c.status).toBe("running");
      expect(alive(c.pid)).toBe(true);
    }
    // web answers on its published port; the worker reaches it by name over the tenant's network
    expect((await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18961/")).out).toContain("hello from kslice");
    const worker = out.containers.worker as unknown as { log: string };
    // the worker asks every 5 s and may have started before web: wait for an answer, bounded
    for (let i = 0; i < 24 && !readFileSync(worker.log, "utf8").includes("tick: hello from kslice"); i++) await sleep(500);
    expect(readFileSync(worker.log, "utf8")).toContain("tick: hello from kslice");
    // each resource's source position is the program's line that declared it, not a line of kslice's
    const kinds = stack.exportResources().filter((res) => res.type.startsWith("pulumi-nodejs:dynamic/kslice:"));
    expect(kinds).toHaveLength(6); // all but the stack
    for (const res of kinds) expect((res as { sourcePosition?: string }).sourcePosition, res.urn).toMatch(/\/examples\/quickstart\/index\.js#\d+,\d+$/);
  });

  it("a second preview and a refresh show no changes", async () => {
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.stderr).not.toMatch(/error/i);
    expect(p.ok).toBe(true);
    expect(p.json!.summary).toEqual({ same: 7 });
    const before = stack.exportResources();
    await sleep(1100); // a CPU tick or two for a usage figure to move, if one were recorded
    const r = await stack.run("refresh");
    expect(r.ok).toBe(true);
    expect(r.json!.summary).toEqual({ same: 7 });
    // quiet: a refresh of an untouched stack changes no recorded property (usage is opt-in: reportUsage)
    const after = stack.exportResources();
    expect(after.map((res) => res.urn)).toEqual(before.map((res) => res.urn));
    for (const [i, res] of after.entries()) expect(res.outputs, res.urn).toEqual(before[i]!.outputs);
  });

  it("a container killed behind kslice's back shows in preview --refresh and a plain up restarts it", async () => {
    execFileSync(localRuntime(), ["--root", `/run/${testPrefix}/runtime`, "kill", "worker", "KILL"]);
    await sleep(500);
    const p = await stack.run("preview", "--refresh");
    expect(p.ok, p.stderr).toBe(true);
    expect(p.json!.summary).toMatchObject({ update: 1 });
    expect(p.stderr).toMatch(/state\s*:\s*"stopped"/);
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    const worker = (up.json!.outputs as { containers: Record<string, { pid: number; status: string }> }).containers.worker!;
    expect(worker.status).toBe("running");
    expect(alive(worker.pid)).toBe(true);
  });

  it("destroy removes the Host and leaves nothing on the host", async () => {
    const r = await stack.run("destroy");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.summary).toMatchObject({ delete: 7 });
    expect(r.json!.outputs).toEqual({});
    expect(leaksOf(testPrefix)).toEqual([]);
  });
});

describe("bad input through the real engine", () => {
  const stack = new TestStack("examples/quickstart", { program: "dist/test/fixtures/programs/bad-host/index.js" });
  afterAll(() => stack.dispose());

  it("rejects connection.type telnet at check, naming the input and the allowed values", async () => {
    const r = await stack.run("up");
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain("connection.type");
    expect(r.stderr).toContain('got "telnet"; expected one of "local", "ssh"');
    const p = await stack.run("preview");
    expect(p.ok).toBe(false);
    // nothing was created: the stack holds no Host
    const o = await stack.run("outputs");
    expect(o.json!.outputs).toEqual({});
  });
});
