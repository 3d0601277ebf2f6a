import { describe, expect, it } from "vitest";
import { shimProvider } from "../../../provider/resources/shim";

describe("shimProvider", () => {
  it("is one object per kind, so the SDK (which caches serialized providers by object) serializes it once per program", () => {
    expect(shimProvider("container")).toBe(shimProvider("container"));
    expect(shimProvider("network")).not.toBe(shimProvider("container"));
  });
});
