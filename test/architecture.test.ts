import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const tracked = execFileSync("git", ["ls-files"], { cwd: root, encoding: "utf8" }).trim().split("\n")
  .filter((f) => /\.(ts|mts|mjs|sh|md|json|yaml)$/.test(f) && f !== "package-lock.json" && !f.startsWith("test/architecture.test.ts"));
const text = (f: string) => readFileSync(join(root, f), "utf8");

describe("the repository stands on its own", () => {
  it("cites no design or style file from outside it", () => {
    const outside = tracked.filter((f) => /\b(DESIGN|STYLE)\.md\b|\.\.\/shared\//.test(text(f)));
    expect(outside).toEqual([]);
  });

  it("every ARCHITECTURE.md section a comment names exists", () => {
    const headings = new Set([...text("ARCHITECTURE.md").matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!));
    const cited = tracked.flatMap((f) => [...text(f).matchAll(/ARCHITECTURE\.md,? "([^"]+)"/g)].map((m) => ({ file: f, section: m[1]! })));
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter((c) => !headings.has(c.section))).toEqual([]);
  });
});
