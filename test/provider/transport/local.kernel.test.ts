import { describe, expect, it } from "vitest";
import { LocalTransport } from "../../../provider/transport/local";
import { CommandError, FileError } from "../../../provider/transport/transport";

const t = new LocalTransport();

describe("LocalTransport", () => {
  it("runs a command with input and returns its output", async () => {
    const r = await t.run(["sh", "-c", "cat; echo err >&2"], { input: "hello" });
    expect(r).toMatchObject({ exitCode: 0, stdout: "hello", stderr: "err\n", timedOut: false });
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

  it("names the file, the data and the errno when a kernel file rejects a write", async () => {
    // pids.max of the root cgroup does not exist: ENOENT, and the message carries path and data
    const e = await t.writeFile("/proc/self/no-such-file", "42").catch((x) => x);
    expect(e).toBeInstanceOf(FileError);
    expect(e.message).toBe('local: failed to write "42" to /proc/self/no-such-file: ENOENT (no such file or directory, open \'/proc/self/no-such-file\')');
  });
});
