import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { alive, sleep } from "../../helpers/procs";

const dir = mkdtempSync(join(tmpdir(), "kslice-watchdog-"));
const watchdog = join(__dirname, "..", "..", "..", "dist", "provider", "reconcile", "engine-watchdog.js");

describe("the provider's engine watchdog", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps the process while the engine answers and ends it once the engine is gone", async () => {
    const engine = createServer((s) => s.destroy());
    await new Promise<void>((r) => engine.listen(0, "127.0.0.1", r));
    const port = (engine.address() as AddressInfo).port;
    // a stand-in for @pulumi/pulumi's cmd/dynamic-provider: the same argv shape, kept alive like the gRPC server
    const script = join(dir, "dynamic-provider.js");
    writeFileSync(script, `require(${JSON.stringify(watchdog)}).watchEngine(); setInterval(() => {}, 1000);`);
    const child = spawn(process.execPath, [script, `127.0.0.1:${port}`], {
      env: { ...process.env, KSLICE_ENGINE_WATCH_MS: "100" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += String(d)));
    const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await sleep(1000); // ten probes answered
    expect(alive(child.pid!)).toBe(true);
    engine.close();
    expect(await exit).toBe(1);
    expect(stderr).toContain(`the engine at 127.0.0.1:${port} is gone`);
  });
});
