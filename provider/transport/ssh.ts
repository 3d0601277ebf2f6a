import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SshConnection } from "../../schema/connection";
import { BatchReader } from "./batch-read";
import { forwardSignals } from "./local";
import {
  CommandError,
  FileError,
  HostUnreachableError,
  unreachableText,
  commandLine,
  countCommand,
  traceCommand,
  defaultTimeoutMs,
  shellQuote,
  type CommandResult,
  type RunOptions,
  type StreamingCommand,
  type Transport,
} from "./transport";
import { spawnStreaming } from "./stream";

/**
 * OpenSSH through execa. One ControlMaster per host per process, so N operations pay one
 * handshake. The private key is on disk (0600, in a private temp dir) only while the master
 * connects; the dir holds known_hosts and the socket, and is removed on close or exit. A provider
 * the engine kills (no exit handler runs) leaves it to a small watcher process that removes it when
 * the provider's pid is gone; dirs left anyway are swept by the next transport.
 */
const dirPrefix = "kslice-ssh-";

/**
 * Printed by the fallback connection ssh makes when the master's socket does not answer: the
 * command never started, so running it again is safe. Any other exit 255 came through the master
 * (the command's own status, or a connection lost while it ran) and is never retried.
 */
const noMaster = "kslice-ssh: no master connection";

/** Removes `dir` once process `pid` is gone, however it ended (SIGKILL included). */
function watchDir(pid: number, dir: string): void {
  const script = `tail --pid="$1" -f /dev/null 2>/dev/null || while kill -0 "$1" 2>/dev/null; do sleep 1; done; rm -rf "$2"`;
  const w = spawn("sh", ["-c", script, "_", String(pid), dir], { detached: true, stdio: "ignore" });
  w.on("error", () => undefined);
  w.unref();
}

/** Removes the temp dirs of transports whose process is gone (killed before its exit handler ran). */
function sweepDeadDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(new RegExp(`^${dirPrefix}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/**
 * Commands at once through one host's master. OpenSSH's sshd allows MaxSessions=10 per connection
 * by default; beyond it a session is refused ("open failed"). A few stay free for attach and -O.
 */
export const maxSessionsPerHost = 8;

/**
 * After the master failed to connect, commands fail at once for this long with that error instead
 * of each waiting out ConnectTimeout again: a dead host fails all its resources fast.
 */
export const failFastMs = 15_000;

/** A counting semaphore: at most `limit` holders; the others wait in order. */
class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async with<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.busy++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
    }
  }
}

export class SshTransport implements Transport {
  readonly target: string;
  /** SSH sessions run through the master (a command started again after a lost master counts twice). */
  commands = 0;
  private dir: string | undefined;
  private readonly slots = new Slots(maxSessionsPerHost);
  private lastFailure: { at: number; error: CommandError } | undefined;

  constructor(private readonly c: SshConnection) {
    this.target = `${c.user}@${c.host}:${c.port}`;
  }

  /** `client`: a command through the master, which must never open a connection of its own. */
  private options(client = true): string[] {
    if (!this.dir) {
      sweepDeadDirs();
      this.dir = mkdtempSync(join(tmpdir(), `${dirPrefix}${process.pid}-`));
      const known = this.c.hostKey ? `[${this.c.host}]:${this.c.port} ${this.c.hostKey}\n${this.c.host} ${this.c.hostKey}\n` : "";
      writeFileSync(join(this.dir, "known_hosts"), known, { mode: 0o600 });
      process.once("exit", () => this.cleanupSync());
      watchDir(process.pid, this.dir);
    }
    const strict = this.c.insecureIgnoreHostKey ? "no" : "yes";
    return [
      "-F",
      "/dev/null",
      "-p",
      String(this.c.port),
      "-l",
      this.c.user,
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `StrictHostKeyChecking=${strict}`,
      "-o",
      `UserKnownHostsFile=${this.c.insecureIgnoreHostKey ? "/dev/null" : join(this.dir, "known_hosts")}`,
      "-o",
      "LogLevel=ERROR",
      "-o",
      `ConnectTimeout=${this.c.connectTimeoutSeconds}`,
      "-o",
      "ServerAliveInterval=5",
      "-o",
      "ServerAliveCountMax=3",
      "-o",
      `ControlPath=${join(this.dir, "mux")}`,
      // a client never connects on its own beside the master: it says so, and run() reconnects
      ...(client ? ["-o", `ProxyCommand=sh -c 'echo "${noMaster}" >&2'`] : []),
    ];
  }

  private master: Promise<void> | undefined;

  /**
   * One master connection, opened once before any command: with ControlMaster=auto, commands
   * started together would each open their own connection before the socket exists.
   */
  private ensureMaster(): Promise<void> {
    const failed = this.lastFailure;
    if (!this.master && failed && Date.now() - failed.at < failFastMs) {
      const ago = ((Date.now() - failed.at) / 1000).toFixed(0);
      const Kind = failed.error instanceof HostUnreachableError ? HostUnreachableError : CommandError;
      return Promise.reject(
        new Kind(this.target, {
          ...failed.error,
          stderr: `${failed.error.stderr.trim()} (host unreachable ${ago}s ago; not retried for ${failFastMs / 1000}s)`,
        }),
      );
    }
    this.master ??= (async () => {
      const { execa } = await import("execa");
      const opts = this.options(false);
      const key = join(this.dir!, "key");
      writeFileSync(key, this.c.privateKey.endsWith("\n") ? this.c.privateKey : `${this.c.privateKey}\n`, { mode: 0o600 });
      const r = await execa("ssh", [...opts, "-i", key, "-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-N", "-f", this.c.host], {
        reject: false,
        timeout: (this.c.connectTimeoutSeconds + 5) * 1000,
        stdin: "ignore",
      }).finally(() => rmSync(key, { force: true }));
      if (r.exitCode !== 0) {
        this.master = undefined;
        const result = {
          command: `ssh ${this.target}`,
          exitCode: r.exitCode ?? -1,
          stdout: "",
          stderr: String(r.stderr ?? "").trim() || (r.timedOut ? "connection timed out" : "ssh failed to connect"),
          timedOut: r.timedOut,
        };
        const error = r.timedOut || unreachableText.test(result.stderr) ? new HostUnreachableError(this.target, result) : new CommandError(this.target, result);
        this.lastFailure = { at: Date.now(), error };
        throw error;
      }
      this.lastFailure = undefined;
    })();
    return this.master;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const remote = commandLine(argv);
    let r = await this.exec(remote, options);
    if (r.exitCode === 255 && r.stderr.includes(noMaster)) {
      // the master expired after being idle (or was killed) and the command never started: connect again, once
      this.master = undefined;
      r = await this.exec(remote, options);
    }
    if (r.exitCode === 255 && r.stderr.includes(noMaster)) {
      throw new CommandError(this.target, {
        ...r,
        command: `ssh ${this.target} ${remote}`,
        stderr: "ssh lost its master connection and could not start the command",
      });
    }
    // any other 255 is the command's own status, or a connection lost while it ran: not run again
    if ((r.exitCode !== 0 || r.timedOut) && !options.allowFailure) throw new CommandError(this.target, r);
    return r;
  }

  private exec(remote: string, options: RunOptions): Promise<CommandResult> {
    return this.slots.with(() => this.execNow(remote, options));
  }

  private async execNow(remote: string, options: RunOptions): Promise<CommandResult> {
    await this.ensureMaster();
    const { execa } = await import("execa");
    this.commands++;
    countCommand();
    const started = Date.now();
    const r = await execa("ssh", [...this.options(), "-o", "ControlMaster=no", this.c.host, "--", remote], {
      input: options.input ?? "",
      timeout: options.timeoutMs ?? defaultTimeoutMs,
      reject: false,
      stripFinalNewline: false,
      forceKillAfterDelay: 2000,
    });
    const result = { command: remote, exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), timedOut: r.timedOut };
    traceCommand(this.target, started, result);
    return result;
  }

  async readFile(path: string): Promise<string> {
    const r = await this.run(["cat", "--", path], { allowFailure: true });
    if (r.exitCode !== 0) throw new FileError(this.target, "read", path, r.stderr.trim());
    return r.stdout;
  }

  private batch = new BatchReader(this);

  readFiles(paths: string[]): Promise<(string | undefined)[]> {
    return this.batch.read(paths);
  }

  async writeFile(path: string, data: string): Promise<void> {
    // printf keeps the write a single write(2), which cgroup files need.
    const r = await this.run(["sh", "-c", `printf %s ${shellQuote(data)} > ${shellQuote(path)}`], { allowFailure: true });
    if (r.exitCode !== 0) throw new FileError(this.target, "write", path, r.stderr.trim().replace(/^sh: \d+: /, ""), data);
  }

  async attach(argv: readonly string[], options: { tty?: boolean } = {}): Promise<number> {
    await this.ensureMaster();
    // its output goes to the terminal, so a lost master cannot be told afterwards: ask it first
    const { execa } = await import("execa");
    const alive = await execa("ssh", [...this.options(), "-O", "check", this.c.host], { reject: false, timeout: 5000 });
    if (alive.exitCode !== 0) {
      this.master = undefined;
      await this.ensureMaster();
    }
    const remote = commandLine(argv);
    this.commands++;
    countCommand();
    return new Promise((resolve, reject) => {
      const child = spawn("ssh", [...this.options(), "-o", "ControlMaster=no", options.tty ? "-tt" : "-T", this.c.host, "--", remote], { stdio: "inherit" });
      child.on("exit", forwardSignals(child));
      child.on("error", reject);
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  }

  /** A command whose stdin and stdout stream through the master connection (host-to-host copies). */
  async stream(argv: readonly string[], options: { timeoutMs?: number } = {}): Promise<StreamingCommand> {
    await this.ready();
    const remote = commandLine(argv);
    return spawnStreaming("ssh", [...this.options(), "-o", "ControlMaster=no", "-T", this.c.host, "--", remote], remote, options.timeoutMs ?? defaultTimeoutMs);
  }

  /** Opens the master connection, or a new one when it is gone (a streamed command cannot be retried). */
  private async ready(): Promise<void> {
    await this.ensureMaster();
    const { execa } = await import("execa");
    const alive = await execa("ssh", [...this.options(), "-O", "check", this.c.host], { reject: false, timeout: 5000 });
    if (alive.exitCode !== 0) {
      this.master = undefined;
      await this.ensureMaster();
    }
  }

  async close(): Promise<void> {
    this.master = undefined;
    if (!this.dir) return;
    const { execa } = await import("execa");
    await execa("ssh", [...this.options(), "-O", "exit", this.c.host], { reject: false, timeout: 5000 });
    this.cleanupSync();
  }

  private cleanupSync(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
