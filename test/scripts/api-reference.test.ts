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
    expect(readFileSync(referenceFile, "utf8"), "docs/API.md is out of date: run npm run api-docs").toBe(text);
  }, 120_000);
});
