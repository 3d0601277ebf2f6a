import { describe, expect, it } from "vitest";
import { parseArgs } from "../../bench/args";

describe("bench command line", () => {
  it("measures the creates without the engine's checkpoints unless told not to", () => {
    expect(parseArgs(["100"]).unsaved).toBe(true);
    const o = parseArgs(["100", "500", "--no-unsaved", "--no-podman"]);
    expect(o).toMatchObject({ ns: [100, 500], unsaved: false, podman: false, network: true });
  });

  it("refuses what it does not know, naming it", () => {
    expect(() => parseArgs(["--no-checkpoints"])).toThrow(/--no-unsaved.*got "--no-checkpoints"/);
    expect(() => parseArgs(["2000"])).toThrow(/within 1\.\.1000.*got 2000/);
  });
});
