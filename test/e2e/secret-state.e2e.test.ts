import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCgroupFile } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { startSshd, type LocalSshd } from "../helpers/sshd";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-sct`;

describe("secret inputs stay secret in state whether or not the program wrapped them", () => {
  let sshd: LocalSshd;
  let stack: TestStack;
  const plainToken = `plain-${Math.random().toString(36).slice(2)}`;
  const wrappedToken = `wrapped-${Math.random().toString(36).slice(2)}`;
  beforeAll(async () => {
    sshd = await startSshd();
    stack = new TestStack("test/fixtures/programs", {
      program: "dist/test/fixtures/programs/secrets/index.js",
      // the key and one env value as plain config: only kslice can keep them secret
      config: {
        "kslice:prefix": prefix,
        "kslice:sshPort": String(sshd.port),
        "kslice:hostKey": sshd.hostKey,
        "kslice:privateKey": sshd.privateKey,
        "kslice:plainToken": plainToken,
        "kslice:budgetMemory": "48Mi",
      },
    });
    stack.secrets["kslice:wrappedToken"] = wrappedToken;
  });
  afterAll(async () => {
    await stack?.dispose();
    await sshd?.stop();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("up with nested config values, then no plain key or env value in any state file", async () => {
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.outputs).toMatchObject({ path: "budget" });
    expect(readFileSync(localCgroupFile(prefix, "budget", "memory.max"), "utf8").trim()).toBe(String(48 << 20));
    // the values reached the container as given
    const pid = (r.json!.outputs as { pid: number }).pid;
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    expect(environ).toEqual(expect.arrayContaining([`PLAIN=${plainToken}`, `WRAPPED=${wrappedToken}`]));
    // kslice's resources in the state file, inputs and outputs (the engine's default provider
    // keeps the stack's plain config, which is the user's choice, not kslice's)
    const dir = join(stack.backend, ".pulumi", "stacks");
    const files = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".json") && !f.includes(".bak"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const resources = (JSON.parse(readFileSync(join(dir, f), "utf8")).checkpoint.latest?.resources ?? []) as { type: string }[];
      const ours = resources.filter((res) => res.type.startsWith("pulumi-nodejs:dynamic/kslice:")) as {
        type: string;
        id: string;
        inputs: Record<string, unknown>;
      }[];
      expect(ours.map((res) => res.type).sort()).toEqual(["Container", "Host", "Host", "ResourceLimits"].map((t) => `pulumi-nodejs:dynamic/kslice:${t}`));
      const text = JSON.stringify(ours);
      // encrypted, not dropped: the inputs the provider needs are there as ciphertext
      expect(ours.find((res) => res.type.endsWith(":Container"))!.inputs.env).toHaveProperty("ciphertext");
      expect(ours.find((res) => res.id.startsWith("root@"))!.inputs.connection).toHaveProperty("ciphertext");
      expect(ours.find((res) => res.type.endsWith(":ResourceLimits"))!.inputs.host).toHaveProperty("ciphertext");
      expect(ours.find((res) => res.id.startsWith("local/") && res.type.endsWith(":Host"))!.inputs.connection).toEqual({ type: "local" });
      for (const secret of [sshd.privateKey.split("\n")[1]!, plainToken, wrappedToken]) expect(text).not.toContain(secret);
    }
  });
});
