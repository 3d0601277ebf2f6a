import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { commands, flags, hostOptions, runCommandLine, type Flag } from "../../cli/commands";
import { UsageError, usageText } from "../../cli/usage";

/** What runCommandLine refuses, before it reaches any host. */
const refusal = async (argv: string[]) => {
  const e = await runCommandLine(argv).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UsageError);
  return e as UsageError;
};
const spelled = (f: Flag) => [`--${f}`, ...("short" in flags[f] ? [`-${flags[f].short}`] : [])];

describe("the CLI's command registry", () => {
  afterEach(() => vi.restoreAllMocks());

  it("every flag parsed is taken by a command or is a host option, and each command's usage shows its flags", () => {
    const taken = new Set<string>(["help", ...hostOptions.flatMap((o) => o.flags), ...commands.flatMap((c) => c.flags)]);
    expect(Object.keys(flags).filter((f) => !taken.has(f))).toEqual([]);
    for (const c of commands)
      for (const f of c.flags)
        expect(
          spelled(f).some((s) => c.usage.includes(s)),
          `${c.name}: ${f}`,
        ).toBe(true);
    for (const o of hostOptions) for (const f of o.flags) expect(o.usage).toContain(`--${f}`);
  });

  it("kslice --help lists every command and host option, each summary line in one column", () => {
    const text = usageText(commands, hostOptions);
    for (const entry of [...commands, ...hostOptions]) {
      const lines = text.split("\n");
      const at = lines.findIndex((l) => l.startsWith(`  ${entry.usage}`));
      expect(at, entry.usage).toBeGreaterThan(0);
      const own = lines.slice(at, at + 1 + entry.summary.length).join("\n");
      for (const s of entry.summary)
        expect(
          own.split("\n").some((l) => l.length > 38 && l.slice(38) === s),
          `${entry.usage}: ${s}`,
        ).toBe(true);
    }
  });

  it("kslice COMMAND --help shows that command's usage, exit 0", async () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    expect(await runCommandLine(["logs", "--help"])).toBe(0);
    const text = String(out.mock.calls[0]![0]);
    expect(text).toMatch(/^usage: kslice \[host options\] logs NAME \[-f\] \[--tail N\]\n {2}a container's log/);
    expect(text).not.toContain("dashboard");
  });

  it.each([
    [["pss"], undefined, `unknown command "pss"; expected one of ${commands.map((c) => c.name).join(", ")}`],
    [["ps", "--tail", "3"], "ps", "ps takes no --tail"],
    [["ps", "--", "x"], "ps", `ps takes no arguments after "--"`],
    [["logs"], "logs", "logs needs a container NAME"],
    [["restore"], "restore", "restore needs a backup FILE, a path on the host"],
    [["exec", "a", "b", "--", "sh"], "exec", `exec: unexpected argument "b"`],
    [["exec", "a"], "exec", `exec a needs a command after "--", e.g. kslice exec a -- sh`],
    [["ps", "--ssh", "a", "--ssh", "b"], "ps", "ps takes one --ssh and one --key (dashboard takes several)"],
    [["top", "--interval", "0.1"], "top", `--interval: got "0.1"; expected a number of at least 0.2`],
    [["report", "--out", "x.pdf"], "report", `report needs --out FILE.html, FILE.svg or FILE.png; got "x.pdf"`],
  ])("refuses %j before reaching a host", async (argv, command, message) => {
    const e = await refusal(argv);
    expect(e.message).toBe(message);
    expect(e.command).toBe(command);
  });

  it("README's operator view names every command", () => {
    const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");
    for (const c of commands) expect(readme).toMatch(new RegExp(`^kslice ${c.name}\\b`, "m"));
  });
});
