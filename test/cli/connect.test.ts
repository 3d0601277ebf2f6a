import { describe, expect, it } from "vitest";
import { prefixOf } from "../../cli/connect";

describe("the kslice command's prefix", () => {
  it("is --prefix, else KSLICE_PREFIX, else kslice", () => {
    expect(prefixOf({ prefix: "a" }, { KSLICE_PREFIX: "b" })).toBe("a");
    expect(prefixOf({}, { KSLICE_PREFIX: "b" })).toBe("b");
    expect(prefixOf({}, {})).toBe("kslice");
  });

  it("names where a bad prefix came from", () => {
    expect(() => prefixOf({}, { KSLICE_PREFIX: "Bad" })).toThrow(/^KSLICE_PREFIX: got "Bad"/);
    expect(() => prefixOf({ prefix: "Bad" }, {})).toThrow(/^--prefix: got "Bad"/);
  });
});
