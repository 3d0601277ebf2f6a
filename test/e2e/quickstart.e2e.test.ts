import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const pinned = JSON.parse(readFileSync("package.json", "utf8")).dependencies["@pulumi/pulumi"];

describe("examples/quickstart through the real engine", () => {
  const stack = new TestStack("examples/quickstart", { config: { "kslice:prefix": testPrefix } });
  afterAll(() => stack.dispose());

  it("up creates the Host with facts that agree with the kernel", async () => {
    const r = await stack.run("up");
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.ok).toBe(true);
    console.log(`e2e ran pulumi v${r.json!.pulumiVersion}`);
    expect(r.json!.pulumiVersion).toBe(pinned);
    expect(r.json!.summary).toMatchObject({ create: 3 });
    const out = r.json!.outputs;
    expect(out.kernelRelease).toBe(execFileSync("uname", ["-r"], { encoding: "utf8" }).trim());
    expect(out.cpuCount).toBe(Number(execFileSync("nproc", { encoding: "utf8" })));
    const kb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
    expect(out.memoryTotalBytes).toBe(kb * 1024);
    expect(["legacy", "hybrid", "unified"]).toContain(out.cgroupMode);
    expect(out.runtime).toMatch(/^(runc|crun) \d/);
  });

  it("a second preview and a refresh show no changes", async () => {
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.stderr).not.toMatch(/error/i);
    expect(p.ok).toBe(true);
    expect(p.json!.summary).toEqual({ same: 3 });
    const r = await stack.run("refresh");
    expect(r.ok).toBe(true);
    expect(r.json!.summary).toEqual({ same: 3 });
  });

  it("destroy removes the Host and leaves nothing on the host", async () => {
    const r = await stack.run("destroy");
    expect(r.ok).toBe(true);
    expect(r.json!.summary).toMatchObject({ delete: 3 });
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
