import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { localCgroupFile } from "../helpers/host";
import { testPrefix } from "../helpers/prefix";
import { alive } from "../helpers/procs";
import { startSshd, type LocalSshd } from "../helpers/sshd";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-move`;

// A host is a machine, not an address: the same machine reached through another sshd (another
// port, another host key) and then locally is an in-place update of every resource on it.
describe("a Host whose connection changes to another way into the same machine", () => {
  let first: LocalSshd;
  let second: LocalSshd | undefined;
  let stack: TestStack;
  const useSshd = (s: LocalSshd) => {
    stack.config["kslice:sshPort"] = String(s.port);
    stack.config["kslice:hostKey"] = s.hostKey;
    stack.secrets["kslice:privateKey"] = s.privateKey;
  };
  beforeAll(async () => {
    first = await startSshd();
    stack = new TestStack("test/fixtures/programs", { program: "dist/test/fixtures/programs/host-move/index.js", config: { "kslice:prefix": prefix } });
    useSshd(first);
  });
  afterAll(async () => {
    await stack?.dispose();
    await first?.stop().catch(() => undefined);
    await second?.stop();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("records the machine's identity", async () => {
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.outputs.machineId).toBe(readFileSync("/etc/machine-id", "utf8").trim());
    expect(r.json!.outputs.status).toBe("running");
  });

  it("a new SSH port (the old one gone) updates in place: the container keeps its pid", async () => {
    const before = (await stack.run("outputs")).json!.outputs;
    second = await startSshd();
    await first.stop(); // the old address answers no more
    useSshd(second);
    const preview = await stack.run("preview");
    expect(preview.ok, preview.stderr).toBe(true);
    expect(preview.json!.summary).not.toHaveProperty("replace");
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    // Host, budget and container take the new connection; nothing is created, deleted or replaced
    expect(up.json!.summary).toEqual({ update: 3, same: 1 });
    expect(up.json!.outputs.pid).toBe(before.pid);
    expect(alive(before.pid as number)).toBe(true);
    expect(readFileSync(localCgroupFile(prefix, "budget/box", "pids.max"), "utf8").trim()).toBe("8");
    expect((await stack.run("preview", "--expect-no-changes")).ok).toBe(true);
  });

  it("the same machine as a local host is an update too; destroy still works from there", async () => {
    const before = (await stack.run("outputs")).json!.outputs;
    stack.config["kslice:local"] = "true";
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.json!.summary).toEqual({ update: 3, same: 1 });
    expect(up.json!.outputs.pid).toBe(before.pid);
    expect((await stack.run("preview", "--expect-no-changes")).ok).toBe(true);
    const d = await stack.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    expect(leaksOf(prefix)).toEqual([]);
  });
});
