import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HostLayout } from "../../../provider/kernel/container/layout";
import { chooseAddress, claimAddressesScript, lostRace } from "../../../provider/kernel/network/allocate";
import { runTransaction, StepError, type Step } from "../../../provider/kernel/transaction";
import type { CommandResult } from "../../../provider/transport/transport";

const dir = mkdtempSync(join(tmpdir(), "kslice-tx-"));
/** A transport that runs the script with this machine's sh, in a temp dir. */
const t = {
  run: async (argv: readonly string[], o: { input?: string } = {}): Promise<CommandResult> => {
    const r = spawnSync(argv[0]!, argv.slice(1), { input: o.input, encoding: "utf8", cwd: dir });
    return { command: argv.join(" "), exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, timedOut: false };
  },
};
const step = (name: string, run: string, undo?: string, more: Partial<Step> = {}): Step => ({ name, run, undo, ...more });

// after every describe of the file: the address claims below use the dir too
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an operation's script (transaction.ts), run by sh in a temp dir", () => {
  it("runs its steps in order and returns the output of the steps that give it", async () => {
    const out = await runTransaction(t, [step("a", "echo dropped; : > a"), step("b", "cat a && echo kept", undefined, { output: true })]);
    expect(out).toBe("kept\n");
  });

  it("a failing step undoes what the steps before made, in reverse, and the error is that step and its stderr alone", async () => {
    const err = await runTransaction(t, [
      step("one", "echo noise >&2; mkdir one", "echo one >> undone; rmdir one"),
      step("two", "mkdir two", "echo two >> undone; rmdir two"),
      // an exclusive step that fails made nothing: its undo is not run
      step("three", "mkdir one", "echo three >> undone", { undoWhenDone: true }),
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepError);
    expect((err as StepError).step).toBe("three");
    expect((err as StepError).message).toMatch(/^three: mkdir: .*one.*exists/);
    expect((err as StepError).message).not.toContain("noise");
    expect(readFileSync(join(dir, "undone"), "utf8")).toBe("two\none\n");
    expect(existsSync(join(dir, "one")) || existsSync(join(dir, "two"))).toBe(false);
  });

  it("with KSLICE_TRACE_COMMANDS, each step's time goes to the trace, and a failure's message stays the step's stderr alone", async () => {
    const trace = join(dir, "trace");
    process.env.KSLICE_TRACE_COMMANDS = trace;
    try {
      await runTransaction({ ...t, target: "here" }, [step("slow one", "sleep 0.3"), step("quick", "true")]);
      const lines = readFileSync(trace, "utf8").trim().split("\n");
      expect(lines.map((l) => l.split(" ").slice(2, 3).concat(l.split(" ").slice(4)))).toEqual([
        ["here", "step", "slow-one"],
        ["here", "step", "quick"],
      ]);
      const ms = lines.map((l) => Number(l.split(" ")[3]));
      expect(ms[0]).toBeGreaterThanOrEqual(250);
      expect(ms[1]).toBeLessThan(250);
      const err = await runTransaction({ ...t, target: "here" }, [step("ok", "true"), step("bad", "echo why >&2; exit 3")]).catch((e: unknown) => e);
      expect((err as StepError).message).toBe("bad: why");
      expect(readFileSync(trace, "utf8").trim().split("\n")).toHaveLength(4);
    } finally {
      delete process.env.KSLICE_TRACE_COMMANDS;
    }
  });

  it("reports a step's exit status (a lost race is told from a failure)", async () => {
    const err = (await runTransaction(t, [step("claim", `exit ${lostRace}`)]).catch((e: unknown) => e)) as StepError;
    expect([err.step, err.exitCode, err.message]).toEqual(["claim", lostRace, `claim: exited with ${lostRace}`]);
  });
});

describe("address claims: chosen from a read, taken exclusively", () => {
  const layout = { network: (n: string) => join(dir, "nets", n) } as unknown as HostLayout;
  const addresses = join(dir, "nets", "n", "addresses");
  const claim = (c: string, address: string, declared = false, fresh = false) =>
    runTransaction(t, [step("addresses", claimAddressesScript(layout, c, [{ network: "n", address, declared }], fresh))]).catch((e: StepError) => e);

  it("chooses the lowest free address apart from the gateway and the taken ones", () => {
    const r = { network: "n", subnet: "10.0.0.0/29", gateway: "10.0.0.1" };
    expect(chooseAddress(r, new Set())).toBe("10.0.0.2");
    expect(chooseAddress(r, new Set(["10.0.0.2", "10.0.0.3"]))).toBe("10.0.0.4");
    expect(chooseAddress(r, new Set(["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]))).toBeUndefined();
    expect(chooseAddress({ ...r, dynamicRange: "10.0.0.4/30" }, new Set(["10.0.0.4"]))).toBe("10.0.0.5");
  });

  it("an address taken meanwhile is a lost race (allocated) or an error naming its holder (declared); a held one is kept", async () => {
    mkdirSync(addresses, { recursive: true });
    expect(await claim("a", "10.0.0.2")).toBe("");
    expect(await claim("a", "10.0.0.2")).toBe("");
    expect(((await claim("b", "10.0.0.2")) as StepError).exitCode).toBe(lostRace);
    expect(((await claim("b", "10.0.0.2", true)) as StepError).message).toContain("taken by container a");
    // a declared address that changed moves the claim
    expect(await claim("a", "10.0.0.3", true)).toBe("");
    expect(readdirSync(addresses)).toEqual(["10.0.0.3"]);
  });

  it("a create's claim (fresh: no lock, no read of the others) is as exclusive, and tells a lost race from a declared address's holder", async () => {
    expect(await claim("c", "10.0.0.4", false, true)).toBe("");
    expect(await claim("c", "10.0.0.4", false, true)).toBe("");
    expect(readFileSync(join(addresses, "10.0.0.4"), "utf8")).toBe("c\n");
    expect(((await claim("d", "10.0.0.4", false, true)) as StepError).exitCode).toBe(lostRace);
    const declared = (await claim("d", "10.0.0.3", true, true)) as StepError;
    expect([declared.exitCode, declared.message]).toEqual([4, expect.stringContaining("address 10.0.0.3 on network n is taken by container a")]);
    // two creates after one address at once: one holds it
    const both = await Promise.all(["e", "f"].map((c) => claim(c, "10.0.0.5", false, true)));
    expect(both.filter((r) => r === "")).toHaveLength(1);
    expect(both.filter((r) => r instanceof StepError && r.exitCode === lostRace)).toHaveLength(1);
  });
});
