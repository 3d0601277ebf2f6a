import { describe, expect, it } from "vitest";
import { failureMessage } from "../../scripts/stack-failure";

const display = "Updating (dev):\n +  pulumi:pulumi:Stack p-dev creating (0s) error: boom\nDiagnostics:\n    error: boom\n";

describe("the runner's failure message", () => {
  it("does not repeat the engine's display that was already streamed", () => {
    const e = Object.assign(new Error(`code: 1\n stdout: ${display}\n stderr: x`), {
      commandResult: { code: 1, stderr: `Command failed with exit code 1: pulumi up --yes\n${display}` },
    });
    const msg = failureMessage(e, "up", display);
    expect(msg).toBe("pulumi up failed (exit code 1); the engine's output above says why");
    expect(msg).not.toContain("boom");
  });

  it("keeps what the CLI said on stderr only (a lock, a missing passphrase)", () => {
    const e = Object.assign(new Error("x"), {
      commandResult: { code: 255, stderr: `Command failed with exit code 255: pulumi up\nerror: the stack is currently locked by 1 lock(s)\n${display}` },
    });
    expect(failureMessage(e, "up", display)).toBe("pulumi up failed (exit code 255):\nerror: the stack is currently locked by 1 lock(s)");
  });

  it("other errors keep their message", () => {
    expect(failureMessage(new Error("usage: stack <up|…>"), "", "")).toBe("usage: stack <up|…>");
  });
});
