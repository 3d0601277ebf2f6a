import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCgroupFile, localFactsSync, localRuntime } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { startSshd, type LocalSshd } from "../helpers/sshd";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-ssh`;

describe("a Host over SSH (OpenSSH on loopback) through the real engine", () => {
  let sshd: LocalSshd;
  let stack: TestStack;
  beforeAll(async () => {
    sshd = await startSshd();
    stack = new TestStack("test/fixtures/programs", {
      program: "dist/test/fixtures/programs/ssh-host/index.js",
      config: { "kslice:prefix": prefix, "kslice:sshPort": String(sshd.port), "kslice:hostKey": sshd.hostKey },
    });
    stack.secrets["kslice:privateKey"] = sshd.privateKey;
  });
  afterAll(async () => {
    await stack?.dispose();
    await sshd?.stop();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("reads the remote kernel's facts and creates a budget there", async () => {
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.outputs).toMatchObject({
      kernelRelease: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
      cgroupMode: localFactsSync().cgroupMode,
      runtime: localRuntime(),
      path: "budget",
    });
    expect(readFileSync(localCgroupFile(prefix, "budget", "pids.max"), "utf8").trim()).toBe("40");
  });

  it("keeps the private key out of the state file in plain text", () => {
    const dir = join(stack.backend, ".pulumi", "stacks");
    const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith(".json"));
    const keyLine = sshd.privateKey.split("\n")[1]!;
    for (const f of files) expect(readFileSync(join(dir, f), "utf8")).not.toContain(keyLine);
  });

  it("a preview of 21 budgets over SSH reads the kernel in a few commands, not one per resource", async () => {
    stack.config["kslice:extra"] = "20";
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    const sessions = () => (sshd.log().match(/Starting session/g) ?? []).length;
    const before = sessions();
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
    const used = sessions() - before;
    console.log(`preview of 21 budgets + host over SSH: ${used} ssh sessions`);
    expect(used).toBeLessThanOrEqual(4);
  });

  it("a second preview shows no changes; destroy removes the budget", async () => {
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
    const d = await stack.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    expect(leaksOf(prefix)).toEqual([]);
  });
});
