import { describe, expect, it } from "vitest";
import { doneLine } from "../../scripts/stack";

describe("the stack runner's closing line", () => {
  it("shows the engine's changes where the operation has them, and no `changes: undefined` where not (rm, cancel, outputs)", () => {
    expect(doneLine("up", "3.248.0", { create: 2 })).toBe('\nup done with pulumi v3.248.0; changes: {"create":2}\n');
    expect(doneLine("rm", "3.248.0", undefined)).toBe("\nrm done with pulumi v3.248.0\n");
  });
});
