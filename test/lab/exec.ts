import { spawn } from "node:child_process";

/** What a finished command left: its output and how it ended. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A command that failed or ran out of time; it names the command, its exit code and its stderr. */
export class LabCommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: CommandResult & { timedOut: boolean },
    options?: { cause?: unknown },
  ) {
    const how = result.timedOut ? "timed out" : `exited ${result.exitCode}`;
    super(`${command} ${how}: ${result.stderr.trim() || "(no stderr)"}`, options);
    this.name = "LabCommandError";
  }
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. @default - stdin is empty */
  input?: string;
  /** Killed (SIGKILL) after this long. Every lab command is bounded. */
  timeoutMs: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. @default false */
  allowFailure?: boolean;
  /** Called with each line of stderr as it arrives (progress of long builds). */
  onStderrLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command without a shell, bounded in time; throws LabCommandError unless it exits 0. */
export function run(file: string, args: readonly string[], opts: RunOptions): Promise<CommandResult> {
  const command = [file, ...args].join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    let partial = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
      if (!opts.onStderrLine) return;
      const lines = (partial + s).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) opts.onStderrLine(line);
    });
    child.stdin.on("error", () => {}); // a command that exits without reading its input is not an error here
    child.stdin.end(opts.input ?? "");
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new LabCommandError(command, { stdout, stderr: String(err), exitCode: -1, timedOut }, { cause: err }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (partial && opts.onStderrLine) opts.onStderrLine(partial);
      const result = { stdout, stderr, exitCode: code ?? (signal ? 128 : -1) };
      if (timedOut || (result.exitCode !== 0 && !opts.allowFailure)) {
        reject(new LabCommandError(command, { ...result, timedOut }));
      } else {
        resolve(result);
      }
    });
  });
}
