import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, kslice, ksliceLive } from "../helpers/cli";
import { Containers } from "../helpers/containers";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";

const prefix = `${testPrefix}-cli`;
const tails = (log: string) => {
  try {
    return execFileSync("pgrep", ["-f", `tail .*${log}`], { encoding: "utf8" }).trim() !== "";
  } catch {
    return false;
  }
};
const cs = new Containers(prefix);

describe("kslice exec and logs", () => {
  beforeAll(async () => {
    await cs.create("box", { command: ["sh", "-c", "echo hello from init; exec sleep 600"] });
  });
  afterAll(async () => {
    await cs.cleanup();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("exec runs inside the container's pid namespace", async () => {
    const pid = await kslice(["--prefix", prefix, "exec", "box", "--", "sh", "-c", "echo $$"]);
    expect(pid.code).toBe(0);
    expect(Number(pid.stdout.trim())).toBeLessThan(100);
    const init = await kslice(["--prefix", prefix, "exec", "box", "--", "cat", "/proc/1/cmdline"]);
    expect(init.stdout.split("\0").filter(Boolean)).toEqual(["sleep", "600"]);
    // and in the container's cgroup: its processes are counted there
    const cgroup = await kslice(["--prefix", prefix, "exec", "box", "--", "cat", "/proc/self/cgroup"]);
    expect(cgroup.stdout).toMatch(new RegExp(`pids:/${prefix}/box`));
  });

  it("exec gives an interactive shell a terminal (in tmux)", async () => {
    const socket = `${prefix}-tmux`;
    const tmux = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    try {
      tmux("new-session", "-d", "-s", "sh", "-x", "120", "-y", "20", `node ${cliPath} --prefix ${prefix} exec box -- sh`);
      let screen = "";
      for (let i = 0; i < 100 && !/^\/ # *$/m.test(screen); i++) {
        await new Promise((r) => setTimeout(r, 200));
        screen = tmux("capture-pane", "-p", "-t", "sh");
      }
      // a small pid (each exec takes the next one in the container's namespace) and the container's init as pid 1
      tmux("send-keys", "-t", "sh", "tty; echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '; echo", "Enter");
      for (let i = 0; i < 100 && !/^sleep 600 *$/m.test(screen); i++) {
        await new Promise((r) => setTimeout(r, 200));
        screen = tmux("capture-pane", "-p", "-t", "sh");
      }
      expect(screen).toMatch(/^\/dev\/pts\/\d+$/m); // a terminal inside the container
      expect(Number(/^pid=(\d+)$/m.exec(screen)?.[1])).toBeLessThan(100);
      expect(screen).toMatch(/^sleep 600 *$/m);
    } finally {
      try {
        tmux("kill-server");
      } catch {
        // gone already
      }
    }
  });

  it("exec passes the command's exit code through", async () => {
    const r = await kslice(["--prefix", prefix, "exec", "box", "--", "sh", "-c", "exit 7"]);
    expect(r.code).toBe(7);
  });

  it("logs shows the bundle's log and --tail bounds it", async () => {
    const all = await kslice(["--prefix", prefix, "logs", "box"]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/hello from init/);
    const log = readFileSync(`/var/lib/${prefix}/containers/box/log`, "utf8");
    const last = await kslice(["--prefix", prefix, "logs", "box", "--tail", "1"]);
    expect(last.stdout).toBe(`${log.trimEnd().split("\n").pop()}\n`);
  });

  it("logs of a container that wrote nothing says so; the prefix can come from KSLICE_PREFIX", async () => {
    await cs.create("quiet", { command: ["sleep", "600"], stopGraceSeconds: 0 });
    process.env.KSLICE_PREFIX = prefix;
    try {
      const r = await kslice(["logs", "quiet"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`kslice: the log of container quiet is empty (/var/lib/${prefix}/containers/quiet/log)\n`);
    } finally {
      delete process.env.KSLICE_PREFIX;
    }
  });

  it("logs -f follows the log as the container writes it", async () => {
    const last = readFileSync(`/var/lib/${prefix}/containers/box/log`, "utf8").trimEnd().split("\n").pop()!;
    const live = ksliceLive(["--prefix", prefix, "logs", "box", "-f", "--tail", "1"]);
    try {
      // tail prints the last line once it has the file open: from then on it sees what is appended
      await live.waitFor(new RegExp(last.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
      // the init's stdout is the log: write through it from inside the container
      const w = await kslice(["--prefix", prefix, "exec", "box", "--", "sh", "-c", "echo followed-line-42 >> /proc/1/fd/1"]);
      expect(w.code).toBe(0);
      const out = await live.waitFor(/followed-line-42/);
      expect(out).toBe(`${last}\nfollowed-line-42\n`);
    } finally {
      const exited = new Promise((r) => live.child.once("exit", r));
      live.child.kill("SIGTERM");
      await exited;
    }
    // the host's tail went with it
    const log = `/var/lib/${prefix}/containers/box/log`;
    for (let i = 0; i < 50 && tails(log); i++) await new Promise((r) => setTimeout(r, 100));
    expect(tails(log)).toBe(false);
  });

  it("refuses an unknown container, a missing command, and an unreachable host", async () => {
    const logs = await kslice(["--prefix", prefix, "logs", "nope"]);
    expect(logs.code).toBe(1);
    expect(logs.stderr).toMatch(/no container "nope" under prefix "[^"]+" \(known: box, quiet\)/);
    const exec = await kslice(["--prefix", prefix, "exec", "nope", "--", "true"]);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toMatch(/no container "nope"/);
    const noCmd = await kslice(["--prefix", prefix, "exec", "box"]);
    expect(noCmd.code).toBe(2);
    expect(noCmd.stderr).toMatch(/needs a command after "--"/);
    const dir = mkdtempSync(join(tmpdir(), "kslice-cli-key-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
      // port 1 on loopback: nothing listens, the connection is refused
      const r = await kslice(["--prefix", prefix, "--ssh", "root@127.0.0.1:1", "--key", join(dir, "key"), "--insecure-ignore-host-key", "ps"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/root@127\.0\.0\.1:1.*(refused|ssh failed)/i);
      const noKey = await kslice(["--ssh", "root@127.0.0.1:1", "ps"]);
      expect(noKey.code).toBe(2);
      expect(noKey.stderr).toMatch(/--ssh needs --key FILE/);
      writeFileSync(join(dir, "x"), "");
      const badHostKey = await kslice(["--ssh", "root@127.0.0.1:1", "--key", join(dir, "key"), "--host-key", "nonsense", "ps"]);
      expect(badHostKey.code).toBe(2);
      expect(badHostKey.stderr).toMatch(/--host-key: .*ssh-ed25519/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
