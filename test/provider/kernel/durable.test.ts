import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { syncScript, syncTargets } from "../../../provider/kernel/durable";
import { transactionScript } from "../../../provider/kernel/transaction";

describe("durable records", () => {
  it("syncs each written path and the directories above it, deepest first, up to /var/lib", () => {
    expect(syncTargets(["/var/lib/p/containers/web/config.json", "/var/lib/p/containers/web/start.sh", "/etc/systemd/system/p-boot.service"])).toEqual([
      "/var/lib/p/containers/web/config.json",
      "/var/lib/p/containers/web/start.sh",
      "/var/lib/p/containers/web",
      "/etc/systemd/system/p-boot.service",
      "/var/lib/p/containers",
      "/etc/systemd/system",
      "/var/lib/p",
      "/etc/systemd",
      "/var/lib",
    ]);
  });

  it("runs one sync of what exists (globs expanded, missing paths skipped) and fails when it fails", () => {
    const d = mkdtempSync(`${tmpdir()}/ks-durable-`);
    try {
      writeFileSync(`${d}/a`, "x");
      const script = syncScript([`${d}/a`, `${d}/gone`, `${d}/*/nothing`]);
      expect(script.match(/\bsync\b/g)).toHaveLength(2); // the command and its error message
      execFileSync("sh", ["-c", script]);
      // sync's own failure (here: no such program) is the script's
      expect(() => execFileSync("sh", ["-c", `PATH=/nonexistent; ${script}`], { stdio: "ignore" })).toThrow();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a directory removed by another operation between the look and the sync is not a failure; a sync that keeps failing is", () => {
    const d = mkdtempSync(`${tmpdir()}/ks-durable-`);
    try {
      mkdirSync(`${d}/bin`);
      mkdirSync(`${d}/limits`);
      writeFileSync(`${d}/a`, "x");
      // a sync that finds limits/ gone, as when a concurrent delete removed it after the look
      writeFileSync(
        `${d}/bin/sync`,
        `#!/bin/sh\nif [ -d ${d}/limits ]; then rmdir ${d}/limits; echo "sync: error opening '${d}/limits': No such file or directory" >&2; exit 1; fi\nexec /bin/sync "$@"\n`,
      );
      chmodSync(`${d}/bin/sync`, 0o755);
      const script = syncScript([`${d}/a`, `${d}/limits/x.json`]);
      execFileSync("sh", ["-c", `PATH=${d}/bin:$PATH; ${script}`]);
      // a sync that always fails: the third failure is the script's, with sync's own message
      writeFileSync(`${d}/bin/sync`, `#!/bin/sh\necho "sync: I/O error" >&2; exit 1\n`);
      let stderr = "";
      try {
        execFileSync("sh", ["-c", `PATH=${d}/bin:$PATH; ${script}`], { stdio: "pipe" });
      } catch (e) {
        stderr = String((e as { stderr: Buffer }).stderr);
      }
      expect(stderr).toContain("sync: I/O error");
      expect(stderr).toContain("sync of what this operation wrote failed");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a transaction syncs once, after its last step, everything its steps wrote", () => {
    const script = transactionScript([
      { name: "one", run: "true", writes: ["/var/lib/p/a"] },
      { name: "two", run: "true", writes: ["/var/lib/p/b"] },
      { name: "report", run: "true", output: true },
    ]);
    expect(script.match(/sync -- "\$@"/g)).toHaveLength(1);
    expect(script.indexOf("ks_sync")).toBeGreaterThan(script.indexOf("ks_step_2"));
    expect(script).toContain("/var/lib/p/a /var/lib/p/b /var/lib/p /var/lib");
    // nothing written: no sync
    expect(transactionScript([{ name: "one", run: "true" }])).not.toContain("sync");
  });
});
