import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import {
  CommandError,
  FileError,
  commandLine,
  countCommand,
  traceCommand,
  defaultTimeoutMs,
  type CommandResult,
  type RunOptions,
  type StreamingCommand,
  type Transport,
} from "./transport";
import { runProcess, spawnStreaming } from "./stream";

/** Commands through node's spawn, files through fs: no shell, no extra process for a cgroup write. */
export class LocalTransport implements Transport {
  readonly target = "local";
  /** Host commands run (processes started by run), for tests and benchmarks; file reads and writes go through fs. */
  commands = 0;

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.commands++;
    countCommand();
    const [file, ...args] = argv;
    if (!file) throw new Error("run: empty command");
    const started = Date.now();
    const { cause, ...result } = await runProcess(file, args, commandLine(argv), options.input ?? "", options.timeoutMs ?? defaultTimeoutMs);
    traceCommand(this.target, started, result);
    if ((result.exitCode !== 0 || result.timedOut) && !options.allowFailure) {
      throw new CommandError(this.target, result, { cause });
    }
    return result;
  }

  async readFile(path: string): Promise<string> {
    try {
      return await readFile(path, "utf8");
    } catch (e) {
      throw new FileError(this.target, "read", path, errText(e), undefined, { cause: e });
    }
  }

  async readFiles(paths: string[]): Promise<(string | undefined)[]> {
    // Synchronous: these are small kernel and bundle files (/proc, cgroupfs, kslice's own), read in
    // batches of hundreds at a preview. fs.promises takes four thread-pool trips and promises per
    // file (procfs reports size 0), several times the event loop's time of one synchronous loop.
    return paths.map((p) => {
      try {
        return readFileSync(p, "utf8").replace(/\n$/, "");
      } catch {
        return undefined;
      }
    });
  }

  async writeFile(path: string, data: string): Promise<void> {
    try {
      // cgroup files take one value per write(2); "r+" avoids O_CREAT/O_TRUNC on kernel files.
      await writeFile(path, data, { flag: "r+" });
    } catch (e) {
      throw new FileError(this.target, "write", path, errText(e), data, { cause: e });
    }
  }

  attach(argv: readonly string[]): Promise<number> {
    const [file, ...args] = argv;
    if (!file) return Promise.reject(new Error("attach: empty command"));
    this.commands++;
    countCommand();
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: "inherit" });
      const stop = forwardSignals(child);
      child.on("exit", stop);
      child.on("error", (e) =>
        reject(new CommandError(this.target, { command: commandLine(argv), exitCode: -1, stdout: "", stderr: e.message, timedOut: false }, { cause: e })),
      );
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  }

  async stream(argv: readonly string[], options: { timeoutMs?: number } = {}): Promise<StreamingCommand> {
    const [file, ...args] = argv;
    if (!file) throw new Error("stream: empty command");
    return spawnStreaming(file, args, commandLine(argv), options.timeoutMs ?? defaultTimeoutMs);
  }

  async close(): Promise<void> {}
}

/** Passes signals sent to this process on to an attached child, which would outlive it otherwise. */
export function forwardSignals(child: ChildProcess): () => void {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const handlers = signals.map((sig) => [sig, () => child.kill(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code} (${err.message.replace(/^[A-Z]+: /, "")})` : String(e);
}
