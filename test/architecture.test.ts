import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const tracked = execFileSync("git", ["ls-files"], { cwd: root, encoding: "utf8" })
  .trim()
  .split("\n")
  .filter((f) => /\.(ts|mts|mjs|sh|md|json|yaml)$/.test(f) && f !== "package-lock.json" && !f.startsWith("test/architecture.test.ts"));
const text = (f: string) => readFileSync(join(root, f), "utf8");

describe("the repository stands on its own", () => {
  it("cites no design or style file from outside it", () => {
    const outside = tracked.filter((f) => /\b(DESIGN|STYLE)\.md\b|\.\.\/shared\//.test(text(f)));
    expect(outside).toEqual([]);
  });

  it("the build holds no module whose source is gone (require() would find a stale container.js before container/index.js)", () => {
    const built = existsSync(join(root, "dist"))
      ? execFileSync("find", ["dist", "-name", "*.js"], { cwd: root, encoding: "utf8" }).trim().split("\n").filter(Boolean)
      : [];
    const sources = (js: string) => ["ts", "mts"].map((ext) => js.replace(/^dist\//, "").replace(/\.js$/, `.${ext}`));
    expect(built.filter((js) => !sources(js).some((f) => existsSync(join(root, f))))).toEqual([]);
  });

  it("every ARCHITECTURE.md section a comment names exists", () => {
    const headings = new Set([...text("ARCHITECTURE.md").matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!));
    const cited = tracked.flatMap((f) => [...text(f).matchAll(/ARCHITECTURE\.md,? "([^"]+)"/g)].map((m) => ({ file: f, section: m[1]! })));
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter((c) => !headings.has(c.section))).toEqual([]);
  });
});

describe("reconcile/ stays readable", () => {
  it("holds no file over 250 lines (a file that grows is split by concern)", () => {
    const files = tracked.filter((f) => f.startsWith("provider/reconcile/") && f.endsWith(".ts"));
    expect(files.length).toBeGreaterThan(20);
    const long = files.map((f) => `${f}: ${text(f).split("\n").length - 1} lines`).filter((l) => Number(l.split(": ")[1]!.split(" ")[0]) > 250);
    expect(long).toEqual([]);
  });
});

// Loading ESLint and its TypeScript parser takes seconds, more on a loaded machine (CI runs the lab beside).
describe("ESLint holds reconcile/ to 'reconcile asks, kernel acts' (ARCHITECTURE.md, \"Layers\")", { timeout: 60_000 }, () => {
  const violations = [
    `import { shellQuote } from "../transport/transport";`,
    `import { connectionKey } from "../transport/open";`,
    `import { shellQuote as q } from "../kernel/shell";`,
    `import { pathTestsScript } from "../kernel/container/admission";`,
    `import { execFileSync } from "node:child_process";`,
    `export const a = (tests: { run(argv: string[]): void }) => tests.run(["sh", "-c", "true"]);`,
    `export const b = (c: { h: { t: { readFiles(p: string[]): void } } }) => c.h.t.readFiles(["/etc/hostname"]);`,
  ];
  const lint = async (code: string, file: string) => {
    const { ESLint } = await import("eslint");
    const [result] = await new ESLint({ cwd: root }).lintText(code, { filePath: join(root, file) });
    return result!.messages.filter((m) => m.ruleId === "no-restricted-imports" || m.ruleId === "no-restricted-syntax").length;
  };

  it.each(violations)("refuses %s in reconcile/", async (code) => {
    expect(await lint(code, "provider/reconcile/container-example.ts")).toBeGreaterThan(0);
  });

  it.each(violations)("refuses %s in the Container's operations (reconcile/container/)", async (code) => {
    expect(await lint(code.replaceAll('"../', '"../../'), "provider/reconcile/container/move-example.ts")).toBeGreaterThan(0);
  });

  it("allows transport types and kernel/ functions", async () => {
    const code = `import type { Transport } from "../transport/transport";\nimport { readSubmounts } from "../kernel/container/admission";\nexport const f = (t: Transport) => readSubmounts(t, ["/srv"]);\n`;
    expect(await lint(code, "provider/reconcile/container-example.ts")).toBe(0);
  });
});

describe("ESLint holds provider/ to one logging path (provider/log.ts)", { timeout: 60_000 }, () => {
  const messages = async (code: string, file: string) => {
    const { ESLint } = await import("eslint");
    const [result] = await new ESLint({ cwd: root }).lintText(code, { filePath: join(root, file) });
    return result!.messages.filter((m) => m.ruleId === "no-console" || m.ruleId === "no-restricted-properties").length;
  };

  it.each([`console.error("x");`, `console.warn("x");`, `process.stderr.write("x\\n");`])("refuses %s outside the log module", async (code) => {
    expect(await messages(code, "provider/kernel/example.ts")).toBeGreaterThan(0);
    expect(await messages(code, "provider/reconcile/example.ts")).toBeGreaterThan(0);
  });

  it("allows the log module to write", async () => {
    expect(await messages(`console.error("kslice: x");`, "provider/log.ts")).toBe(0);
  });
});
