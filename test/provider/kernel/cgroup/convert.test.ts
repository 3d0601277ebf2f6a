import { describe, expect, it } from "vitest";
import {
  blkioToIoWeight,
  coresToQuota,
  ioWeightToBlkio,
  memswLimit,
  parseV1Bytes,
  quotaToCores,
  sharesToWeight,
  swapFromMemsw,
  weightToShares,
} from "../../../../provider/kernel/cgroup/convert";

describe("v1 <-> v2 conversions", () => {
  it("maps cpu weight onto shares at the ends of both ranges", () => {
    expect(weightToShares(1)).toBe(2);
    expect(weightToShares(10000)).toBe(262144);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1024)).toBe(39); // v1's default reads as runc reports it
  });

  it("round-trips every cpu weight through shares", () => {
    for (let w = 1; w <= 10000; w++) expect(sharesToWeight(weightToShares(w))).toBe(w);
  });

  it("round-trips every io weight through blkio weight where blkio can tell them apart", () => {
    expect(ioWeightToBlkio(1)).toBe(10);
    expect(ioWeightToBlkio(10000)).toBe(1000);
    for (let b = 10; b <= 1000; b++) expect(ioWeightToBlkio(blkioToIoWeight(b))).toBe(b);
  });

  it("turns cores into a cfs quota and back", () => {
    expect(coresToQuota(1.5, 100000)).toBe(150000);
    expect(coresToQuota(0.01, 100000)).toBe(1000);
    expect(quotaToCores(150000, 100000)).toBe(1.5);
  });

  it("adds memory and swap into memsw, unlimited when either is", () => {
    expect(memswLimit(256 * 2 ** 20, 64 * 2 ** 20)).toBe(320 * 2 ** 20);
    expect(memswLimit("max", 100)).toBe("max");
    expect(memswLimit(100, "max")).toBe("max");
    expect(swapFromMemsw(320, 256)).toBe(64);
    expect(swapFromMemsw("max", 256)).toBe("max");
  });

  it("reads v1's unlimited forms as max", () => {
    expect(parseV1Bytes("9223372036854771712\n")).toBe("max");
    expect(parseV1Bytes("-1")).toBe("max");
    expect(parseV1Bytes("268435456")).toBe(268435456);
  });
});
