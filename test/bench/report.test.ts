import { describe, expect, it } from "vitest";
import { targetRows, type Summary } from "../../bench/report";

const run = (n: number, k: number): Summary => ({
  n,
  createPer: 100 * k,
  floorCreatePer: 60,
  runcPer: 50,
  podmanPer: 150,
  netCreatePer: 112 * k,
  previewRatio: 1.33,
  commandsPer: 0.05,
});

describe("the targets of issue 12 (figures before and thresholds from bench/results/issue-12-targets.json)", () => {
  it("prints each target with its figure before, this run's, the target and whether it is met", () => {
    const { header, rows } = targetRows([run(100, 1), run(200, 1.7)]);
    expect(header).toEqual(["measure", "before (2026-11-26, README)", "now (N=100)", "now (N=200)", "target", "met?"]);
    expect(rows).toEqual([
      ["create per container / (engine floor per resource + `runc run -d`)", "2.3× (N=100), 2.9× (N=200)", "0.91×", "1.55×", "≤ 1.5×", "no (N=200)"],
      ["create with a network / plain create", "1.3–1.5×", "1.12×", "1.12×", "≤ 1.15×", "yes"],
      ["no-op preview / engine floor", "1.9–2.4×", "1.33×", "1.33×", "≤ 1.3×", "no (N=100, 200)"],
      ["kslice create per container / `podman run -d`", "2.1× slower", "1.50× faster", "1.13× slower", "faster than podman", "no (N=200)"],
      ["host commands per container in a no-op preview (provider's count)", "—", "0.05", "0.05", "≤ 0.1", "yes"],
      ["programs exec'd per container in a no-op preview (strace, local proxy)", "—", "n/a", "n/a", "≤ 0.1", "n/a"],
    ]);
  });

  it("one run: a single now column and a plain verdict", () => {
    const { header, rows } = targetRows([run(5, 1)]);
    expect(header.slice(2)).toEqual(["now", "target", "met?"]);
    expect(rows.map((r) => r[r.length - 1])).toEqual(["yes", "yes", "no", "yes", "yes", "n/a"]);
  });
});
