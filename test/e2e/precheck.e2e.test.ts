import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2c`;

// Mistakes that span two resources of one program: the preview fails naming the input, and the
// host holds nothing afterwards (the resources do not exist yet when they are checked).
describe("refused at preview across resources", () => {
  const stack = new TestStack("test/fixtures/programs", { program: "dist/test/fixtures/programs/precheck/index.js", config: { "kslice:prefix": prefix } });
  afterAll(async () => {
    await stack.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it.each([
    ["child-above-parent", "limits.pids.max", "got 32, above the parent tenant's 16"],
    ["container-above-parent", "limits.memory.max", "got 128Mi, above the parent tenant's 64Mi"],
    ["two-containers", "name", 'got "same", also the name of urn:pulumi:test::kslice-test::pulumi-nodejs:dynamic/kslice:Container::'],
    ["two-networks", "name", 'got "same", also the name of urn:pulumi:test::kslice-test::pulumi-nodejs:dynamic/kslice:Network::'],
    ["two-budgets", "name", 'got "same", also the path of urn:pulumi:test::kslice-test::pulumi-nodejs:dynamic/kslice:ResourceLimits::'],
    ["overlapping-subnets", "subnet", "which overlaps the subnet of urn:pulumi:test::kslice-test::pulumi-nodejs:dynamic/kslice:Network::"],
    ["disk-over-budget", "disk.max", "declared in this program need 80Mi together"],
    ["disk-unlimited-child", "disk", "container c declares no disk.max, but it is placed under the disk budget of tenant (disk.max 64Mi)"],
    ["disk-default-counts", "disk.max", "need 80Mi together"],
    ["disk-above-free", "disk.max", `got 1000Ti; host local has`],
  ])("%s: %s", async (name, property, reason) => {
    stack.config["kslice:case"] = name;
    const p = await stack.run("preview");
    expect(p.ok).toBe(false);
    expect(p.stderr).toMatch(new RegExp(`resource '[^']+' has a problem: ${property.replace(/\./g, "\\.")}: `));
    expect(p.stderr).toContain(reason);
    expect(leaksOf(prefix)).toEqual([]);
  });

  // The engine prints a failure naming a property as `property P value {V}`, V looked up as a
  // top-level input: a nested path printed `value {<nil>}`. The runner prints what the engine said once.
  it("a bad input reads once, with its path and without the engine's {<nil>}", async () => {
    stack.config["kslice:case"] = "bad-input";
    const p = await stack.run("preview");
    expect(p.ok).toBe(false);
    const message = "pulumi-nodejs:dynamic/kslice:Container resource 'c' has a problem: limits.cpu.max: ";
    expect(p.stderr.split(message).length - 1, p.stderr).toBe(1);
    expect(p.stderr).not.toContain("<nil>");
    expect(p.stderr).not.toMatch(/property \S+ value/);
    expect(leaksOf(prefix)).toEqual([]);
  });
});
