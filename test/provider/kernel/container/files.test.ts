import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFilesScript, type BundleFile } from "../../../../provider/kernel/container/files";

// the script as the host's sh runs it, on stdin
const run = (script: string) => execFileSync("sh", ["-s"], { input: script, encoding: "utf8" });
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe("writeFilesScript", () => {
  const files = (d: string): BundleFile[] => [
    { path: join(d, "config.json"), content: `{"env": ["A=it's $HOME \`id\` \\\\ %s"]}\n` },
    { path: join(d, "net.sh"), content: "#!/bin/sh\necho hi", mode: "700" },
    { path: join(d, "hosts"), content: "127.0.0.1 web\n", mode: "644", inPlace: true },
    { path: join(d, "nul"), content: "a\0b" },
    { path: join(d, "empty"), content: "" },
  ];

  it("writes every byte with the declared mode over what was there: a wider mode does not survive, a bind-mounted file keeps its inode", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-files-"));
    try {
      // what a bundle held before: a wider mode that must not survive, and a bind-mounted file rewritten in place
      writeFileSync(join(d, "config.json"), "old", { mode: 0o644 });
      writeFileSync(join(d, "hosts"), "old");
      chmodSync(join(d, "hosts"), 0o600);
      const inode = statSync(join(d, "hosts")).ino;
      const fs = files(d);
      run(writeFilesScript(fs));
      for (const f of fs) expect(readFileSync(f.path, "utf8")).toBe(f.content);
      expect([mode(join(d, "config.json")), mode(join(d, "net.sh")), mode(join(d, "hosts")), mode(join(d, "nul")), mode(join(d, "empty"))]).toEqual([
        "600",
        "700",
        "644",
        "600",
        "600",
      ]);
      expect(statSync(join(d, "hosts")).ino).toBe(inode);
      expect(execFileSync("ls", ["-A", d], { encoding: "utf8" }).split("\n").filter(Boolean).sort()).toEqual([
        "config.json",
        "empty",
        "hosts",
        "net.sh",
        "nul",
      ]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("fresh (a bundle the script made): every file new, with its mode from the umask alone (no chmod but for execute bits)", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-files-"));
    try {
      const fs = files(d);
      const script = writeFilesScript(fs, true);
      expect(script.match(/chmod/g)).toHaveLength(1);
      run(script);
      for (const f of fs) expect(readFileSync(f.path, "utf8")).toBe(f.content);
      expect([mode(join(d, "config.json")), mode(join(d, "net.sh")), mode(join(d, "hosts")), mode(join(d, "nul")), mode(join(d, "empty"))]).toEqual([
        "600",
        "700",
        "644",
        "600",
        "600",
      ]);
      expect(execFileSync("ls", ["-A", d], { encoding: "utf8" }).split("\n").filter(Boolean).sort()).toEqual([
        "config.json",
        "empty",
        "hosts",
        "net.sh",
        "nul",
      ]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("fails naming the file when it cannot be written", () => {
    expect(() => run(writeFilesScript([{ path: "/nonexistent-kslice/dir/x", content: "x" }]))).toThrow(/writing \/nonexistent-kslice\/dir\/x failed/);
  });
});
