import { describe, expect, it } from "vitest";
import { parseSnapshot } from "../../../../provider/kernel/container/snapshot";
import { chooseRanges, legacyBase, maxRangeIndex, parseClaim, rangeBase, rangeIndex, rangeSize } from "../../../../provider/kernel/container/uid-ranges";

describe("user-namespace ranges", () => {
  it("chooses the lowest free indexes, whatever prefix took the others", () => {
    expect(chooseRanges([], undefined, 3)).toEqual([0, 1, 2]);
    expect(chooseRanges([0, 1, 3, 7], undefined, 4)).toEqual([2, 4, 5, 6]);
  });

  it("puts a preferred index first when it is free, and never offers it twice", () => {
    expect(chooseRanges([0, 5], 9, 3)).toEqual([9, 1, 2]);
    expect(chooseRanges([0, 1], 1, 2)).toEqual([2, 3]);
  });

  it("offers nothing when every range is claimed", () => {
    const all = Array.from({ length: maxRangeIndex + 1 }, (_, i) => i);
    expect(chooseRanges(all)).toEqual([]);
    expect(chooseRanges(all.slice(1))).toEqual([0]);
  });

  it("keeps every range above the host's users and below uid 2^32-1", () => {
    expect(rangeBase(0)).toBe(2 ** 20);
    expect(rangeBase(maxRangeIndex) + rangeSize - 1).toBeLessThan(2 ** 32 - 1);
    expect(rangeBase(maxRangeIndex + 1) + rangeSize - 1).toBeGreaterThanOrEqual(2 ** 32 - 1);
  });

  it("maps the hashed bases of older bundles to indexes (they collided: Aa and BB)", () => {
    expect(legacyBase("Aa")).toBe(legacyBase("BB"));
    expect(rangeIndex(legacyBase("Aa"))).toBe((legacyBase("Aa") - 2 ** 20) / rangeSize);
    expect(rangeIndex(2 ** 20 + 5)).toBeUndefined();
  });

  it("reads the claim script's answers", () => {
    expect(parseClaim("claimed 12\n")).toEqual({ index: 12 });
    expect(parseClaim("taken\n0\n1\n4\n")).toEqual({ taken: [0, 1, 4] });
    expect(() => parseClaim("flock: bad\n")).toThrow(/unexpected answer/);
  });

  it("reads the prefix's claims and every prefix's indexes from the snapshot", () => {
    const s = parseSnapshot(
      [
        "null",
        "@@bundles",
        "@@networks",
        "@@addresses",
        "@@uids",
        "/var/lib/k/uid-ranges/3:web",
        "/var/lib/k/uid-ranges/0:db",
        "@@alluids",
        "0",
        "1",
        "3",
        "",
      ].join("\n"),
    );
    expect(s.ranges).toEqual(
      new Map([
        ["web", 3],
        ["db", 0],
      ]),
    );
    expect(s.takenRanges).toEqual([0, 1, 3]);
    expect(parseSnapshot("null\n@@bundles\n@@networks\n@@addresses\n").ranges.size).toBe(0);
  });
});
