import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generate, referenceFile } from "../../scripts/api-reference";

describe("docs/API.md", () => {
  it("is what scripts/api-reference.ts generates from the schemas and declarations now (npm run api-docs rewrites it)", () => {
    const text = generate();
    // a sample of what the sources say, so that an empty or broken generator fails too
    expect(text).toMatch(/\| `limits\.memory\.max` \| "max" \\\| string \\\| number \| {2}\| no limit \| Hard limit/);
    expect(text).toMatch(/\| `connection\.privateKey` \| string \| with type: "ssh" \|/);
    expect(text).toMatch(/\| `status` \| `"up" \\\| "down" \\\| "missing"` \|/);
    // component resources too: ContainerSet's inputs, its defaults for the replicas, its properties
    const set = text.slice(text.indexOf("\n## ContainerSet\n"));
    expect(set).toContain("\n## ContainerSet\n");
    expect(set).toMatch(/\| `namePrefix` \| string \| {2}\| the set's name \|/);
    expect(set).toMatch(/\| `probeTimeoutSeconds` \| number \| {2}\| 10 \|/);
    expect(set).toMatch(/\| `template\.onSourceLost` \| "fail" \\\| "recreate" \| {2}\| "recreate" \|/);
    expect(set).toMatch(/\| `assignments` \| `Record<string, PlacementAssignment>` \|/);
    expect(readFileSync(referenceFile, "utf8"), "docs/API.md is out of date: run npm run api-docs").toBe(text);
  }, 120_000);
});
