import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitsLifecycle } from "../../provider/reconcile/limits";
import { cliPath } from "../helpers/cli";
import { Containers } from "../helpers/containers";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { sleep } from "../helpers/procs";

const prefix = `${testPrefix}-top`;
const cs = new Containers(prefix);
const socket = `${prefix}-tmux`; // a tmux server of our own
const tmux = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const alive = () => {
  try {
    tmux("has-session", "-t", "top");
    return true;
  } catch {
    return false;
  }
};

async function screenWith(re: RegExp): Promise<string> {
  let screen = "";
  for (let i = 0; i < 100; i++) {
    screen = tmux("capture-pane", "-p", "-t", "top");
    if (re.test(screen)) return screen;
    await sleep(200);
  }
  throw new Error(`the screen never showed ${re}:\n${screen}`);
}

describe("kslice top in a real terminal (tmux)", () => {
  beforeAll(async () => {
    const c = await limitsLifecycle.check({}, { host: cs.host, name: "tenant", limits: { memory: { max: "256Mi" }, pids: { max: 100 } } });
    await limitsLifecycle.create(c.inputs!);
    await cs.create("busy", {
      parent: "tenant",
      command: ["sh", "-c", "i=0; while [ $i -lt 8 ]; do sleep 600 & i=$((i+1)); done; wait"],
      limits: { pids: { max: 10 }, memory: { max: "64Mi" } },
    });
    await cs.create("idle", { parent: "tenant", command: ["sleep", "600"], limits: { pids: { max: 100 } } });
  });
  afterAll(async () => {
    try {
      tmux("kill-server");
    } catch {
      // already gone with its last session
    }
    await cs.cleanup(false);
    await limitsLifecycle.delete("", { host: cs.host, name: "tenant", onDeleteWithProcesses: "kill" }).catch(() => undefined);
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("shows the budget tree with bars, the most pressed first, and quits on q", async () => {
    tmux("new-session", "-d", "-s", "top", "-x", "180", "-y", "30", `node ${cliPath} --prefix ${prefix} top --interval 0.5`);
    const screen = await screenWith(/busy.*tasks \[#+\.*\] 9\/10/);
    const lines = screen.split("\n");
    const tenant = lines.findIndex((l) => /^tenant\/\s+budget/.test(l));
    const busy = lines.findIndex((l) => /^ {2}busy\s+running/.test(l));
    const idle = lines.findIndex((l) => /^ {2}idle\s+running/.test(l));
    expect(lines[0]).toMatch(new RegExp(`kslice top .* prefix ${prefix} .* 2 containers, 1 budgets`));
    expect(tenant).toBeGreaterThan(0);
    // busy (9 of 10 tasks) is under more pressure than idle (1 of 100)
    expect(busy).toBe(tenant + 1);
    expect(idle).toBe(busy + 1);
    expect(lines[busy]).toMatch(/mem \[#*\.+\] \S+\/64Mi/);
    expect(lines[tenant]).toMatch(/tasks \[#+\.*\] 10\/100/);
    tmux("send-keys", "-t", "top", "q");
    for (let i = 0; i < 50 && alive(); i++) await sleep(100);
    expect(alive()).toBe(false);
  });
});
