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
/**
 * Sessions a preview of this stack costs whatever its size, one read each shared by every
 * resource: the host's facts, the cgroup tree, the budgets' records, the host's snapshot
 * (containers, bundles' records, networks, addresses), the host's interfaces and routes (networks'
 * checks), every network's probe, every running init's /proc files, every container's namespace.
 * A refresh makes six of them (no checks: no budget records, no interfaces and routes).
 */
const fixed = 8;

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
    const files = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".json"));
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

  // Before reads were shared per burst (issue 12): 160 sessions for the preview, 105 for the refresh.
  it("a no-op preview and a refresh of 20 containers on a Network over SSH cost at most 0.1 commands per container", async () => {
    const n = 20;
    stack.config["kslice:containers"] = String(n);
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    const sessions = () => (sshd.log().match(/Starting session/g) ?? []).length;
    let before = sessions();
    // the provider's own count (what the bench reads) agrees with sshd's
    const counts = join(stack.backend, "commands");
    process.env.KSLICE_COUNT_COMMANDS = counts;
    const p = await stack.run("preview", "--expect-no-changes").finally(() => delete process.env.KSLICE_COUNT_COMMANDS);
    expect(p.ok, p.stderr).toBe(true);
    const preview = sessions() - before;
    const lastByPid = new Map(
      readFileSync(counts, "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(" ") as [string, string]),
    );
    expect([...lastByPid.values()].reduce((sum, n) => sum + Number(n), 0)).toBe(preview);
    before = sessions();
    const r = await stack.run("refresh");
    expect(r.ok, r.stderr).toBe(true);
    const refresh = sessions() - before;
    console.log(`over SSH, ${n} containers on a Network + 21 budgets + host: no-op preview ${preview} ssh sessions, refresh ${refresh}`);
    expect(preview / n).toBeLessThanOrEqual(0.1 + fixed / n);
    expect(refresh / n).toBeLessThanOrEqual(0.1 + fixed / n);
  });

  it("a second preview shows no changes; destroy removes the budget", async () => {
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
    const d = await stack.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    expect(leaksOf(prefix)).toEqual([]);
  });
});
