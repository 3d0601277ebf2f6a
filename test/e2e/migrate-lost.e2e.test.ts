import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { startSshd, type LocalSshd } from "../helpers/sshd";
import { TestStack } from "../helpers/stack";

const lost = `${testPrefix}-lost`;
const here = `${testPrefix}-here`;

// A container whose source host cannot be reached (issue 13): this machine under one prefix over
// an sshd that the test freezes (SIGSTOP), and under another prefix locally. onSourceLost "fail"
// refuses at preview naming the host; "recreate" creates it afresh with a warning and remembers
// the old copy, which the first up after the host answers again removes.
describe("migrating away from a host that cannot be reached", () => {
  let sshd: LocalSshd;
  let stack: TestStack;
  beforeAll(async () => {
    sshd = await startSshd();
    stack = new TestStack("test/fixtures/programs", {
      program: "dist/test/fixtures/programs/migrate/index.js",
      config: {
        "kslice:aPrefix": lost,
        "kslice:bPrefix": here,
        "kslice:plainHosts": "true",
        "kslice:aSshPort": String(sshd.port),
        "kslice:aHostKey": sshd.hostKey,
        "kslice:at": "a",
      },
    });
    stack.secrets["kslice:privateKey"] = sshd.privateKey;
  });
  afterAll(async () => {
    if (sshd) process.kill(sshd.pid, "SIGCONT");
    await stack?.dispose();
    await sshd?.stop();
    // no Host resource declares these prefixes (plain references), so their shared setup stays
    for (const p of [lost, here]) execFileSync(join(__dirname, "..", "..", "scripts", "cleanup.sh"), [p], { stdio: "ignore" });
    expect(leaksOf(lost)).toEqual([]);
    expect(leaksOf(here)).toEqual([]);
  });
  /** A secret output as `stack export --show-secrets` shows it. */
  const plain = (v: unknown) => (v && typeof v === "object" && "plaintext" in v ? JSON.parse(String((v as { plaintext: string }).plaintext)) : v);
  const source = () => `root@127.0.0.1:${sshd.port} (prefix ${lost})`;

  it("fail (the default) refuses at preview naming the host; recreate makes it afresh and records what it left", async () => {
    const first = await stack.run("up");
    expect(first.ok, first.stderr).toBe(true);
    execFileSync("runc", ["--root", `/run/${lost}/runtime`, "exec", "box", "sh", "-c", "echo precious > /data"]);
    process.kill(sshd.pid, "SIGSTOP");
    stack.config["kslice:at"] = "b";
    const refused = await stack.run("preview");
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toContain(`container box: cannot migrate from host ${source()}, which cannot be reached`);
    expect(refused.stderr).toContain(`onSourceLost: "recreate"`);

    stack.config["kslice:onSourceLost"] = "recreate";
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).toContain(`re-created EMPTY on local (prefix ${here})`);
    expect(up.json!.outputs.lastMigration).toMatchObject({ mode: "recreate", from: source(), bytes: 0 });
    expect(up.json!.outputs.status).toBe("running");
    expect(existsSync(`/var/lib/${here}/containers/box/upper/data`)).toBe(false);
    const box = stack.exportResources().find((r) => r.type.endsWith("Container"))!;
    expect(plain(box.outputs.leftBehind)).toEqual([
      { connection: expect.objectContaining({ type: "ssh", port: sshd.port }), prefix: lost, machineId: expect.any(String), name: "box" },
    ]);
    // while the host stays lost, nothing is to be done (its check is short)
    expect((await stack.run("preview", "--expect-no-changes")).ok).toBe(true);
  }, 300_000);

  it("once the host answers again, up removes the copy left there and forgets it", async () => {
    process.kill(sshd.pid, "SIGCONT");
    const preview = await stack.run("preview");
    expect(preview.ok, preview.stderr).toBe(true);
    expect(preview.json!.summary).toMatchObject({ update: 1 });
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(existsSync(`/var/lib/${lost}/containers/box`)).toBe(false);
    expect(leaksOf(lost).filter((l) => /box/.test(l))).toEqual([]);
    const box = stack.exportResources().find((r) => r.type.endsWith("Container"))!;
    expect(plain(box.outputs.leftBehind)).toEqual([]);
    expect((await stack.run("preview", "--expect-no-changes")).ok).toBe(true);
  }, 300_000);
});
