import { afterEach, describe, expect, it, vi } from "vitest";
import { info, warn } from "../../provider/log";

describe("provider/log: one format on stderr", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prefixes every line with kslice: and a warning with warning:", () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => undefined);
    warn("host h does not answer");
    info("migrated from a to b");
    expect(err.mock.calls).toEqual([["kslice: warning: host h does not answer"], ["kslice: migrated from a to b"]]);
  });
});
