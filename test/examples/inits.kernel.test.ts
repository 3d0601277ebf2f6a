// Every example's containers stop on SIGTERM. A container's init is PID 1 of its pid namespace, and
// the kernel drops a signal sent to PID 1 from outside unless PID 1 has a handler for it: an init
// whose `trap` ran in a background subshell ignores the stop's SIGTERM, and every stop, replace and
// destroy then waits the whole grace period for the SIGKILL. The commands are the ones the examples
// declare (each program run with Pulumi's mocks, its Containers' inputs collected), each run in a
// real container (busybox rootfs, no network) and sent SIGTERM from the host.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Containers } from "../helpers/containers";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive, sleep } from "../helpers/procs";

const repo = join(__dirname, "..", "..");
const req = createRequire(join(repo, "package.json"));

/** The Containers an example declares (name and command), from its compiled program run against mocks. */
async function declaredCommands(example: string, config: Record<string, string> = {}): Promise<{ name: string; command: string[] }[]> {
  const pulumi = req("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  const seen: { name: string; command: string[] }[] = [];
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type.endsWith(":Container") && Array.isArray(args.inputs.command)) seen.push({ name: args.name, command: args.inputs.command as string[] });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "examples",
    "test",
    true,
  );
  for (const [k, v] of Object.entries(config)) pulumi.runtime.setConfig(k, v);
  const program = req(join(repo, "dist", "examples", example, "index.js")) as () => Promise<unknown>;
  await program();
  await sleep(500); // registrations are asynchronous
  return seen;
}

/** Signals the process catches (SigCgt of /proc/<pid>/status), as signal numbers. */
function caught(pid: number): number[] {
  const mask = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]}`);
  return [...Array(64).keys()].filter((i) => (mask >> BigInt(i)) & 1n).map((i) => i + 1);
}

describe("the examples' inits handle SIGTERM", () => {
  const prefix = `${testPrefix}-inits`;
  const made = new Containers(prefix);
  afterAll(async () => {
    await made.cleanup();
    expect(leaksOf(prefix)).toEqual([]);
  });

  const examples: [string, Record<string, string>][] = [
    ["quickstart", {}],
    ["gitops", {}],
    ["devenv", {}],
    [
      "fleet",
      { "kslice:hosts": JSON.stringify([{ name: "h1", host: "192.0.2.1", hostKey: "ssh-ed25519 AAAA" }]), "kslice:privateKey": "key", "kslice:replicas": "1" },
    ],
  ];
  it.each(examples)("examples/%s: every container's init exits on the stop's SIGTERM", async (example, config) => {
    const declared = await declaredCommands(example, config);
    expect(declared.length).toBeGreaterThan(0);
    for (const { name, command } of declared) {
      const { outs } = await made.create(`${example}-${name}`.slice(0, 60), { command, stopGraceSeconds: 60 });
      const pid = outs.pid as number;
      expect(alive(pid)).toBe(true);
      await sleep(300); // past the command's first lines (its `trap`)
      expect(caught(pid), `${example}/${name}: PID 1 (${command.join(" ")}) has no SIGTERM handler`).toContain(15);
      // what the stop sends first; without a handler PID 1 never sees it, and only SIGKILL after the
      // 60 s grace would end it. The bound below is generous for a loaded machine, not a timing claim.
      process.kill(pid, "SIGTERM");
      let gone = !alive(pid);
      for (let i = 0; i < 100 && !gone; i++) {
        await sleep(100);
        gone = !alive(pid);
      }
      expect(gone, `${example}/${name}: init ${pid} still runs 10 s after SIGTERM`).toBe(true);
    }
  });
});
