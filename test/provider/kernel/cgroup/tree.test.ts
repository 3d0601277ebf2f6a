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
        "@@f /sys/fs/cgroup/k/web/cgroup.procs",
        "@@f /sys/fs/cgroup/k/web/io.max",
        "/sys/fs/cgroup/k/web/io.max:8:0 rbps=1 wbps=max riops=max wiops=max",
        "/sys/fs/cgroup/k/web/io.max:254:0 rbps=2 wbps=max riops=max wiops=max",
        "",
      ].join("\n"),
    );
    expect([...t.dirs]).toEqual(["/sys/fs/cgroup/k", "/sys/fs/cgroup/k/web"]);
    expect(t.files.get("/sys/fs/cgroup/k/web/cgroup.procs")).toBe("");
    expect(t.files.get("/sys/fs/cgroup/k/web/io.max")).toBe("8:0 rbps=1 wbps=max riops=max wiops=max\n254:0 rbps=2 wbps=max riops=max wiops=max");
    expect(t.files.has("/sys/fs/cgroup/k/web/memory.max")).toBe(false);
  });

  it("reads grep's lines before find's (they share a pipe) as after them", () => {
    const t = parseTree(["/k/a/pids.max:7", "@@d /k", "@@d /k/a", "@@f /k/a/pids.max", "@@f /k/a/cgroup.procs", ""].join("\n"));
    expect(t.files).toEqual(new Map([["/k/a/pids.max", "7"], ["/k/a/cgroup.procs", ""]]));
  });

  it("run by sh on a tree of files: every directory, every wanted file with its content, nothing else", () => {
    const root = mkdtempSync(join(tmpdir(), "kslice-tree-"));
    try {
      mkdirSync(join(root, "a b", "c"), { recursive: true });
      writeFileSync(join(root, "a b", "pids.max"), "16\n");
      writeFileSync(join(root, "a b", "c", "io.max"), "8:0 rbps=1\n254:0 rbps=2\n");
      writeFileSync(join(root, "a b", "c", "pids.max"), "");
      writeFileSync(join(root, "a b", "other"), "x\n");
      const t = parseTree(execFileSync("sh", ["-c", treeScript([root], ["pids.max", "io.max"])], { encoding: "utf8" }));
      expect([...t.dirs].sort()).toEqual([root, join(root, "a b"), join(root, "a b", "c")]);
      expect(t.files).toEqual(new Map([
        [join(root, "a b", "pids.max"), "16"],
        [join(root, "a b", "c", "io.max"), "8:0 rbps=1\n254:0 rbps=2"],
        [join(root, "a b", "c", "pids.max"), ""],
      ]));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("quotes roots and names into one command", () => {
    expect(treeScript(["/sys/fs/cgroup/a b"], ["pids.max", "cgroup.procs"])).toContain("-name pids.max -o -name cgroup.procs");
    expect(treeScript(["/sys/fs/cgroup/a b"], ["x"])).toContain("'/sys/fs/cgroup/a b'");
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
