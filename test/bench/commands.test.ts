import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCommandCount } from "../../bench/commands";

describe("readCommandCount", () => {
  it("takes each provider process's last total (the provider appends '<pid> <total so far>' per command), summed over processes", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-count-"));
    try {
      const f = join(d, "provider");
      expect(readCommandCount(f)).toBeUndefined();
      // two processes: 4 commands, then 3
      writeFileSync(f, ["100 1", "100 2", "200 1", "100 3", "200 2", "100 4", "200 3", ""].join("\n"));
      expect(readCommandCount(f)).toBe(7);
      writeFileSync(f, "");
      expect(readCommandCount(f)).toBeUndefined();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
