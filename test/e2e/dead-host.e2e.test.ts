import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCgroupFile } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-dead`;

describe("one good host and one dead address in one up", () => {
  // accepts TCP and never says a word: the worst kind of dead host (no refusal, no banner)
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const keyDir = mkdtempSync(join(tmpdir(), "kslice-deadkey-"));
  let stack: TestStack;
  let port = 0;

  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    port = (silent.address() as { port: number }).port;
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "id")]);
    stack = new TestStack("test/fixtures/programs", {
      program: "dist/test/fixtures/programs/dead-host/index.js",
      config: { "kslice:prefix": prefix, "kslice:deadPort": String(port) },
    });
    stack.secrets["kslice:privateKey"] = readFileSync(join(keyDir, "id"), "utf8");
  });
  afterAll(async () => {
    // the dead host's resources were never made: the program without them destroys cleanly
    await stack?.dispose();
    for (const s of sockets) s.destroy();
    silent.close();
    rmSync(keyDir, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  }, 300_000);

  it("the good host's budgets are made; the dead host fails on its own, naming the host, and its budgets are not attempted", async () => {
    const started = Date.now();
    const r = await stack.run("up", "--continue-on-error");
    const seconds = (Date.now() - started) / 1000;
    console.log(`[dead host] up with one dead host (connectTimeoutSeconds 3) ended after ${seconds.toFixed(1)} s (engine start included)`);
    expect(r.ok).toBe(false);
    const target = `root@127.0.0.1:${port}`;
    // a check that cannot reach the host warns (a failed check would stop the whole update)
    expect(r.stderr).toContain(`warning: ${target}: `);
    expect(r.stderr).toMatch(new RegExp(`Host dead \\*\\*creating failed\\*\\* error: ${target.replace(/\./g, "\\.")}: .*(timed out|refused)`));
    const names = stack.exportResources().map((x) => x.urn.split("::").pop());
    for (let i = 1; i <= 3; i++) {
      expect(existsSync(localCgroupFile(prefix, `good-${i}`, "pids.max")), `good-${i}`).toBe(true);
      expect(names).toContain(`good-${i}`);
      expect(names).not.toContain(`dead-${i}`);
    }
  }, 300_000);
});
