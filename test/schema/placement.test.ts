import { describe, expect, it } from "vitest";
import { parseInput } from "../../schema/issues";
import { placementArgs } from "../../schema/placement";

const base = {
  replicas: ["web-1", "web-2", "web-3", "web-4"],
  hosts: [{ key: "a", host: { connection: { type: "local" }, prefix: "kslice" } }],
};

describe("placementArgs: maxUnavailable", () => {
  it("defaults to 1", () => {
    const r = parseInput(placementArgs, base);
    expect(r.ok && r.value.maxUnavailable).toBe(1);
  });

  it.each([1, 3, 4])("accepts %s of 4 replicas", (maxUnavailable) => {
    expect(parseInput(placementArgs, { ...base, maxUnavailable }).ok).toBe(true);
  });

  it.each([
    [0, "got 0"],
    [-1, "got -1"],
    [1.5, "got 1.5"],
    [5, "got 5"],
  ])("refuses %s, naming the input, the value and what was expected", (maxUnavailable, got) => {
    const r = parseInput(placementArgs, { ...base, maxUnavailable });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failures).toEqual([
      { property: "maxUnavailable", reason: `${got}; expected a whole number from 1 (one replica moves at a time) to replicas (4)` },
    ]);
  });

  it("refuses a string", () => {
    const r = parseInput(placementArgs, { ...base, maxUnavailable: "1" });
    expect(r.ok ? [] : r.failures).toEqual([{ property: "maxUnavailable", reason: 'got "1"; expected number' }]);
  });
});
