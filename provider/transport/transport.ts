import { appendFileSync } from "node:fs";

/** What one command on a host produced. Errors have the same shape (execa's convention). */
export interface CommandResult {
  /** The command as it would be typed, for messages. */
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Written to the command's standard input. */
  input?: string;
  /** Bound on the command; it is killed when exceeded. @default 60000 */
  timeoutMs?: number;
  /** Resolve with the result instead of rejecting when the exit code is not 0. @default false */
  allowFailure?: boolean;
}

export const defaultTimeoutMs = 60_000;

let commandsRun = 0;

/**
 * Counts one command run on a host (a process spawned locally, a session over SSH), every
 * transport of this process together. With KSLICE_COUNT_COMMANDS=<file>, each command appends
 * "<pid> <total so far>" to the file, so the last line of a pid is its process's total: written as
 * it goes, since the engine may kill a provider before any exit handler runs.
 */
export function countCommand(): void {
  commandsRun++;
  const file = process.env.KSLICE_COUNT_COMMANDS;
  if (file) appendFileSync(file, `${process.pid} ${commandsRun}\n`);
}

/**
 * With KSLICE_TRACE_COMMANDS=<file>, each command run appends "<end ms> <pid> <target> <ms> <exit> <first
 * line>" when it ends: where an operation's time goes, for profiling the test tiers.
 */
export function traceCommand(target: string, startedMs: number, r: Pick<CommandResult, "command" | "exitCode">): void {
  const file = process.env.KSLICE_TRACE_COMMANDS;
  if (!file) return;
  const first = r.command.split("\n", 1)[0]!.slice(0, 160);
  appendFileSync(file, `${Date.now()} ${process.pid} ${target} ${Date.now() - startedMs} ${r.exitCode} ${first}\n`);
}

/** Whether KSLICE_TRACE_COMMANDS asks for a trace (transactions then time their steps). */
export const tracing = (): boolean => !!process.env.KSLICE_TRACE_COMMANDS;

/** A transaction's steps in the trace, after its command's line: "<ms> <pid> <target> <ms> step <name>". */
export function traceSteps(target: string, steps: { name: string; ms: number }[]): void {
  const file = process.env.KSLICE_TRACE_COMMANDS;
  if (!file || !steps.length) return;
  appendFileSync(file, steps.map((s) => `${Date.now()} ${process.pid} ${target} ${s.ms} step ${s.name}\n`).join(""));
}

/** Commands this process has run on hosts, all transports together. */
export const hostCommands = (): number => commandsRun;

/** The one way kslice reaches a host: local (execa, fs) or ssh (OpenSSH, multiplexed). */
export interface Transport {
  /** Names the host in messages: "local" or "root@10.0.0.5:22". */
  readonly target: string;
  /** Commands this transport has run on its host (local processes, SSH sessions), for tests and benchmarks; fakes may leave it out. */
  readonly commands?: number;
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Reads a whole file; rejects with a FileError naming the path. */
  readFile(path: string): Promise<string>;
  /** Reads many files at once (one round trip over SSH); a missing or unreadable file gives undefined. */
  readFiles(paths: string[]): Promise<(string | undefined)[]>;
  /** Writes a whole file (no create of parents); rejects with a FileError naming path and data. */
  writeFile(path: string, data: string): Promise<void>;
  /**
   * Runs a command on this process's stdin, stdout and stderr (a terminal on the host when `tty`),
   * unbounded, for streaming and interactive commands (logs -f, exec); resolves with its exit code.
   * Optional so that test fakes need not have it; local and ssh do.
   */
  attach?(argv: readonly string[], options?: { tty?: boolean }): Promise<number>;
  /**
   * Starts a command whose standard input and output are streams of this process, for copies from
   * one host to another (pipeHosts in stream.ts); `done` resolves with its result once it exited.
   * Optional so that test fakes need not have it; local and ssh do.
   */
  stream?(argv: readonly string[], options?: { timeoutMs?: number }): Promise<StreamingCommand>;
  close(): Promise<void>;
}

/** A running command with its stdin and stdout as streams (Transport.stream). */
export interface StreamingCommand {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  /** Its result: stdout is empty (it went to the stream); stderr is kept. Never rejects. */
  done: Promise<CommandResult>;
  kill(): void;
}

export class CommandError extends Error implements CommandResult {
  readonly command: string;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  constructor(target: string, result: CommandResult, options?: { cause?: unknown }) {
    const why = result.timedOut ? "timed out" : `exited with ${result.exitCode}`;
    const stderr = result.stderr.trim();
    super(`${target}: \`${briefCommand(result.command)}\` ${why}${stderr ? `: ${stderr}` : ""}`, options);
    this.name = "CommandError";
    this.command = result.command;
    this.exitCode = result.exitCode;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
    this.timedOut = result.timedOut;
  }
}

/** The host did not answer at all (refused, timed out, no route): no command ran there. */
export class HostUnreachableError extends CommandError {
  constructor(target: string, result: CommandResult, options?: { cause?: unknown }) {
    super(target, result, options);
    this.name = "HostUnreachableError";
  }
}

/** True when `e`, or an error it was caused by, says the host did not answer. */
export function isHostUnreachable(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 5; x = (x as { cause?: unknown }).cause, depth++) if (x instanceof HostUnreachableError) return true;
  return false;
}

/** What ssh prints when it never reached the host (as opposed to a refused key or host key). */
export const unreachableText =
  /Connection refused|timed out|No route to host|Network is unreachable|Could not resolve|Connection reset|Connection closed by remote host|banner exchange/i;

/**
 * A command as an error message shows it: a whole script is a wall of text that buries the
 * failing step's stderr, so only its first line is kept unless KSLICE_DEBUG is set.
 */
export function briefCommand(command: string): string {
  if (process.env.KSLICE_DEBUG || (command.length <= 160 && !command.includes("\n"))) return command;
  const lines = command.split("\n");
  const first = lines[0]!.length > 120 ? `${lines[0]!.slice(0, 120)}…` : lines[0]!;
  return `${first} … (${lines.length}-line script; KSLICE_DEBUG=1 shows it whole)`;
}

export class FileError extends Error {
  constructor(
    readonly target: string,
    readonly op: "read" | "write",
    readonly path: string,
    readonly detail: string,
    readonly data?: string,
    options?: { cause?: unknown },
  ) {
    super(
      op === "write" ? `${target}: failed to write ${JSON.stringify(data)} to ${path}: ${detail}` : `${target}: failed to read ${path}: ${detail}`,
      options,
    );
    this.name = "FileError";
  }
}

/** Quotes one argument for a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}
