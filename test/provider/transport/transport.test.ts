import { describe, expect, it } from "vitest";
import { CommandError, commandLine, shellQuote } from "../../../provider/transport/transport";

describe("shellQuote", () => {
  it("leaves plain words alone and quotes the rest so sh reads them back unchanged", () => {
    expect(shellQuote("/sys/fs/cgroup/memory.max")).toBe("/sys/fs/cgroup/memory.max");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(commandLine(["echo", "$HOME", ""])).toBe("echo '$HOME' ''");
  });
});

describe("CommandError", () => {
  it("names the host, the command, the exit code and stderr", () => {
    const e = new CommandError("local", { command: "false", exitCode: 1, stdout: "", stderr: "boom\n", timedOut: false });
    expect(e.message).toBe("local: `false` exited with 1: boom");
    expect(e).toMatchObject({ exitCode: 1, stderr: "boom\n", timedOut: false });
  });
});
