import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseReadFiles, readFilesScript } from "../../../provider/transport/batch-read";

describe("the batched read a remote host runs (readFilesScript)", () => {
  it("run by sh: each path's content with one trailing newline dropped, as the local transport reads; a missing file, a directory undefined", () => {
    const dir = mkdtempSync(join(tmpdir(), "kslice-batch-"));
    try {
      writeFileSync(join(dir, "a"), "one\n\n");
      writeFileSync(join(dir, "b"), "two");
      writeFileSync(join(dir, "c d"), "");
      writeFileSync(join(dir, "e"), "==> looks like a header <==\nlast\n");
      mkdirSync(join(dir, "sub"));
      const many = Array.from({ length: 2000 }, (_, i) => join(dir, `f${i}`));
      for (const [i, f] of many.entries()) writeFileSync(f, `${i}\n`);
      const paths = [join(dir, "a"), join(dir, "missing"), join(dir, "b"), join(dir, "sub"), join(dir, "c d"), "/proc/self/status", join(dir, "e"), ...many];
      const out = execFileSync("sh", ["-c", readFilesScript], { input: `${paths.join("\n")}\n`, encoding: "utf8", maxBuffer: 1 << 26 });
      const got = parseReadFiles(out, paths);
      expect(got.slice(0, 5)).toEqual(["one\n", undefined, "two", undefined, ""]);
      // procfs reports size 0: read whole all the same
      expect(got[5]).toMatch(/^Name:[\s\S]*\nPid:\s+\d+[\s\S]*CapEff:/);
      expect(got[6]).toBe("==> looks like a header <==\nlast");
      // more paths than one tail run takes
      expect(got.slice(7)).toEqual(many.map((_, i) => String(i)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000); // spawns sh, xargs and tail: seconds under load
});
