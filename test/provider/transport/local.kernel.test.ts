import { describe, expect, it } from "vitest";
import { LocalTransport } from "../../../provider/transport/local";
import { CommandError, FileError, hostCommands } from "../../../provider/transport/transport";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const t = new LocalTransport();

describe("LocalTransport", () => {
  it("runs a command with input and returns its output", async () => {
    const r = await t.run(["sh", "-c", "cat; echo err >&2"], { input: "hello" });
    expect(r).toMatchObject({ exitCode: 0, stdout: "hello", stderr: "err\n", timedOut: false });
  });

  it("counts every command, and appends the process's running total to KSLICE_COUNT_COMMANDS", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kslice-count-")), "commands");
    const own = new LocalTransport();
    const before = hostCommands();
    process.env.KSLICE_COUNT_COMMANDS = file;
    try {
      await own.run(["true"]);
      await own.run(["sh", "-c", "exit 1"], { allowFailure: true });
      await own.readFiles(["/proc/self/status"]); // files through fs: no command
    } finally {
      delete process.env.KSLICE_COUNT_COMMANDS;
    }
    expect(own.commands).toBe(2);
    expect(hostCommands() - before).toBe(2);
    expect(readFileSync(file, "utf8")).toBe(`${process.pid} ${before + 1}\n${process.pid} ${before + 2}\n`);
    rmSync(dirname(file), { recursive: true });
  });

  it("with KSLICE_TRACE_COMMANDS, appends each command's end time, pid, host, duration, status and first line", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kslice-trace-")), "trace");
    process.env.KSLICE_TRACE_COMMANDS = file;
    try {
      await t.run(["sh", "-c", "sleep 0.2\necho second line"]);
      await t.run(["sh", "-c", "exit 3"], { allowFailure: true });
    } finally {
      delete process.env.KSLICE_TRACE_COMMANDS;
    }
    await t.run(["true"]); // not traced
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => /^(\d+) (\d+) local (\d+) (-?\d+) (.*)$/.exec(l));
    expect(first?.slice(2)).toEqual([String(process.pid), first![3], "0", "sh -c 'sleep 0.2"]);
    expect(Number(first![3])).toBeGreaterThanOrEqual(200);
    expect(Number(first![1])).toBeLessThanOrEqual(Date.now());
    expect(second?.[4]).toBe("3");
    rmSync(dirname(file), { recursive: true });
  });

  it("reads a batch of files in order: one trailing newline dropped, a missing or unreadable one undefined", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kslice-read-"));
    try {
      writeFileSync(join(dir, "a"), "one\n\n");
      writeFileSync(join(dir, "b"), "two");
      const got = await t.readFiles([join(dir, "a"), join(dir, "missing"), join(dir, "b"), dir, "/proc/self/status"]);
      expect(got.slice(0, 4)).toEqual(["one\n", undefined, "two", undefined]);
      // procfs reports size 0: read whole all the same
      expect(got[4]).toMatch(/^Name:[\s\S]*\nPid:\s+\d+[\s\S]*CapEff:/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("rejects a failing command with its exit code and stderr", async () => {
    const e = await t.run(["sh", "-c", "echo nope >&2; exit 3"]).catch((x) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect(e.message).toContain("exited with 3: nope");
  });

  it("bounds every command with a timeout", async () => {
    const start = Date.now();
    const e = await t.run(["sleep", "30"], { timeoutMs: 300 }).catch((x) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect(e.timedOut).toBe(true);
    expect(Date.now() - start).toBeLessThan(5000);
  });

  it("passes a large input whole, survives a command that reads none of it, and names a program that is not there", async () => {
    const big = "x".repeat(4 << 20);
    expect((await t.run(["wc", "-c"], { input: big })).stdout.trim()).toBe(String(big.length));
    expect((await t.run(["sh", "-c", "exit 0"], { input: big })).exitCode).toBe(0);
    const e = await t.run(["kslice-no-such-program"]).catch((x) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect(e.message).toContain("ENOENT");
  });

  it("names the file, the data and the errno when a kernel file rejects a write", async () => {
    // pids.max of the root cgroup does not exist: ENOENT, and the message carries path and data
    const e = await t.writeFile("/proc/self/no-such-file", "42").catch((x) => x);
    expect(e).toBeInstanceOf(FileError);
    expect(e.message).toBe("local: failed to write \"42\" to /proc/self/no-such-file: ENOENT (no such file or directory, open '/proc/self/no-such-file')");
  });
});
