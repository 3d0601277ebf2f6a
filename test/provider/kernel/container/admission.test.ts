import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePathTests, parseSubmounts, pathTestsScript, submountsScript } from "../../../../provider/kernel/container/admission";

const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });

describe("admission scripts, run by the host's sh", () => {
  it("tell a present path, an absent one, and a directory that is or is not an OCI image layout", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-adm-"));
    try {
      writeFileSync(join(d, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      const tests = [
        { path: d, kind: "exists" as const },
        { path: join(d, "missing dir's"), kind: "exists" as const },
        { path: d, kind: "ociLayout" as const },
        { path: tmpdir(), kind: "ociLayout" as const },
      ];
      expect(parsePathTests(sh(pathTestsScript(tests)))).toEqual([true, false, true, false]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("find a mount at or below a source (/ has /proc, read from it), and none below a plain directory", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-adm-"));
    try {
      const [root, plain] = parseSubmounts(sh(submountsScript(["/", d])));
      expect(root).toMatch(/^\//);
      expect(plain).toBeUndefined();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
