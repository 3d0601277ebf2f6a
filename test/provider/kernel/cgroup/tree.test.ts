import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { maxAgeMs } from "../../../../provider/kernel/shared-read";
import { TreeCache, parseTree, treeScript } from "../../../../provider/kernel/cgroup/tree";
import type { CommandResult, RunOptions } from "../../../../provider/transport/transport";

describe("parseTree", () => {
  it("tells directories, empty files and multi-line files apart", () => {
    const t = parseTree(
      [
        "@@d /sys/fs/cgroup/k",
        "@@d /sys/fs/cgroup/k/web",
        "==> /sys/fs/cgroup/k/web/cgroup.procs <==",
        "",
        "==> /sys/fs/cgroup/k/web/io.max <==",
        "8:0 rbps=1 wbps=max riops=max wiops=max",
        "254:0 rbps=2 wbps=max riops=max wiops=max",
        "",
        "==> /sys/fs/cgroup/k/web/pids.max <==",
        "max",
        "",
      ].join("\n"),
    );
    expect([...t.dirs]).toEqual(["/sys/fs/cgroup/k", "/sys/fs/cgroup/k/web"]);
    expect(t.files.get("/sys/fs/cgroup/k/web/cgroup.procs")).toBe("");
    expect(t.files.get("/sys/fs/cgroup/k/web/io.max")).toBe("8:0 rbps=1 wbps=max riops=max wiops=max\n254:0 rbps=2 wbps=max riops=max wiops=max");
    expect(t.files.get("/sys/fs/cgroup/k/web/pids.max")).toBe("max");
    expect(t.files.has("/sys/fs/cgroup/k/web/memory.max")).toBe(false);
  });

  it("reads the blocks of two tail runs (xargs splits a long list): no empty line between them", () => {
    const t = parseTree(["@@d /k", "==> /k/a <==", "", "==> /k/b <==", "7", "==> /k/c <==", "==> /k/d <==", "1", "2", ""].join("\n"));
    expect(t.files).toEqual(
      new Map([
        ["/k/a", ""],
        ["/k/b", "7"],
        ["/k/c", ""],
        ["/k/d", "1\n2"],
      ]),
    );
  });

  it("run by sh on trees of files: every directory, each root's wanted files with their content, nothing else", () => {
    const base = mkdtempSync(join(tmpdir(), "kslice-tree-"));
    try {
      // a root whose name sed would read as a pattern ("." and "*"), and a space
      const a = join(base, "a.b*"),
        b = join(base, "x y");
      mkdirSync(join(a, "c d"), { recursive: true });
      mkdirSync(join(b, "c"), { recursive: true });
      mkdirSync(join(base, "aXb*", "c"), { recursive: true });
      writeFileSync(join(a, "pids.max"), "16\n");
      writeFileSync(join(a, "c d", "io.max"), "8:0 rbps=1\n254:0 rbps=2\n");
      writeFileSync(join(a, "c d", "pids.max"), "");
      writeFileSync(join(a, "other"), "x\n");
      // wanted under a only: not read under b
      writeFileSync(join(b, "c", "pids.max"), "9\n");
      writeFileSync(join(b, "c", "memory.max"), "max\n");
      // a sibling that "a.b*" as a regular expression would match
      writeFileSync(join(base, "aXb*", "c", "pids.max"), "1\n");
      const many = Array.from({ length: 3000 }, (_, i) => `d${i}`);
      for (const d of many) mkdirSync(join(b, d));
      for (const d of many) writeFileSync(join(b, d, "memory.max"), `${d}\n`);
      const script = treeScript([
        { root: a, files: ["pids.max", "io.max"] },
        { root: b, files: ["memory.max"] },
      ]);
      const t = parseTree(execFileSync("sh", ["-c", script], { encoding: "utf8", maxBuffer: 1 << 26 }));
      expect([...t.dirs].sort()).toEqual([a, join(a, "c d"), b, join(b, "c"), ...many.map((d) => join(b, d))].sort());
      const files = new Map([
        [join(a, "pids.max"), "16"],
        [join(a, "c d", "io.max"), "8:0 rbps=1\n254:0 rbps=2"],
        [join(a, "c d", "pids.max"), ""],
        [join(b, "c", "memory.max"), "max"],
        // 3000 directories
        ...many.map((d) => [join(b, d, "memory.max"), d] as [string, string]),
      ]);
      expect(t.files).toEqual(files);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  }, 30_000); // spawns sh and find on real trees: seconds under load, not the default 5

  it("a root that is missing reads as nothing, and the script can be part of a larger one", () => {
    const out = execFileSync("sh", ["-c", `${treeScript([{ root: "/nonexistent/kslice", files: ["pids.max"] }])}\necho after`], { encoding: "utf8" });
    expect(out).toBe("after\n");
  });
});

describe("TreeCache", () => {
  it("serves the reads of one burst with one command and reads again after a change", async () => {
    let runs = 0;
    const t = {
      run: async (_argv: readonly string[], _o?: RunOptions): Promise<CommandResult> => {
        runs++;
        return { command: "", exitCode: 0, stdout: "@@d /x\n", stderr: "", timedOut: false };
      },
    };
    const cache = new TreeCache(t as never, "script", 1000);
    await Promise.all(Array.from({ length: 50 }, () => cache.get()));
    expect(runs).toBe(1);
    cache.invalidate();
    await cache.get();
    expect(runs).toBe(2);
  });
});

describe("SharedRead", () => {
  afterEach(() => vi.useRealTimers());

  it("serves callers while they keep asking, reads again once idle, and at most every maxAgeMs", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    let runs = 0;
    const t = { run: async (): Promise<CommandResult> => (runs++, { command: "", exitCode: 0, stdout: "@@d /x\n", stderr: "", timedOut: false }) };
    const cache = new TreeCache(t as never, "script", 1000);
    const at = (ms: number) => vi.setSystemTime(new Date(ms));
    at(0);
    // asked every 900 ms for 9 s: one read, though the burst outlasts the window
    for (let ms = 0; ms < 9000; ms += 900) {
      at(ms);
      await cache.get();
    }
    expect(runs).toBe(1);
    at(8100 + 1000); // idle for the window
    await cache.get();
    expect(runs).toBe(2);
    for (let ms = 9100; ms <= 9100 + maxAgeMs; ms += 500) {
      at(ms);
      await cache.get();
    }
    expect(runs).toBe(3);
  });
});
