import { spawn, type ChildProcess } from "node:child_process";
import { type CommandResult, type StreamingCommand, type Transport } from "./transport";

/** Kills `child` when `timeoutMs` passes (TERM, then KILL 2 s later); `end` stops that and tells whether it fired. */
function bound(child: ChildProcess, timeoutMs: number, kill: (sig: NodeJS.Signals) => void = (sig) => void child.kill(sig)): { end: () => boolean } {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    kill("SIGTERM");
    setTimeout(() => kill("SIGKILL"), 2000).unref();
  }, timeoutMs);
  return {
    end: () => {
      clearTimeout(timer);
      return fired;
    },
  };
}

/**
 * Spawns `file args` with piped stdio and a bound: the child is killed (TERM, then KILL) when
 * `timeoutMs` passes. `command` is how messages show it.
 */
export function spawnStreaming(file: string, args: readonly string[], command: string, timeoutMs: number): StreamingCommand {
  // a group of its own, killed whole: `sh -c` forks its command, and a killed shell would leave it
  // holding the pipes, so the stream would never close
  const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      child.kill(sig);
    }
  };
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => (stderr = (stderr + d).slice(-8000)));
  // a reader that went away is the other side's failure, reported by its own result
  child.stdin.on("error", () => undefined);
  const limit = bound(child, timeoutMs, kill);
  const done = new Promise<CommandResult>((resolve) => {
    child.on("error", (e) => (stderr += e.message));
    child.on("close", (code, signal) => {
      resolve({ command, exitCode: code ?? (signal ? 128 : -1), stdout: "", stderr, timedOut: limit.end() });
    });
  });
  return { stdin: child.stdin, stdout: child.stdout, done, kill: () => kill("SIGKILL") };
}

/**
 * Runs `file args` to its end: `input` on its stdin, stdout and stderr kept whole, the same bound
 * as spawnStreaming. Node's spawn and nothing more: execa costs this process several times the CPU
 * per command, and a create of hundreds runs one each.
 */
export function runProcess(
  file: string,
  args: readonly string[],
  command: string,
  input: string,
  timeoutMs: number,
): Promise<CommandResult & { cause?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let cause: Error | undefined;
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    // a child that exits without reading its input is judged by its exit status
    child.stdin.on("error", () => undefined);
    const limit = bound(child, timeoutMs);
    child.on("error", (e) => (cause = e));
    child.on("close", (code, signal) => {
      const timedOut = limit.end();
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({
        command,
        exitCode: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: stderr || (cause?.message ?? ""),
        timedOut,
        cause,
      });
    });
    child.stdin.end(input);
  });
}

export interface PipeResult {
  bytes: number;
  from: CommandResult;
  to: CommandResult;
}

/**
 * Runs `fromArgv` on one host and `toArgv` on another (or the same), the first's stdout piped
 * through this process into the second's stdin: a host-to-host copy driven by the provider, over
 * the transports it already holds (no key or route between the hosts). `onBytes` sees the running
 * total. Resolves when both exited; a side that failed is in its result (the caller names it).
 */
export async function pipeHosts(
  from: Transport,
  fromArgv: readonly string[],
  to: Transport,
  toArgv: readonly string[],
  options: { timeoutMs: number; onBytes?: (total: number) => void },
): Promise<PipeResult> {
  if (!from.stream || !to.stream) throw new Error(`pipe from ${from.target} to ${to.target}: a transport cannot stream`);
  const dst = await to.stream(toArgv, { timeoutMs: options.timeoutMs });
  const src = await from.stream(fromArgv, { timeoutMs: options.timeoutMs }).catch((e: unknown) => {
    dst.kill();
    throw e;
  });
  let bytes = 0;
  src.stdout.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    options.onBytes?.(bytes);
  });
  src.stdout.pipe(dst.stdin);
  // one side ending early must not leave the other waiting forever
  const [a, b] = await Promise.all([
    src.done.then((r) => (r.exitCode !== 0 && dst.kill(), r)),
    dst.done.then((r) => {
      // the pipe paused the source when its reader went away: drain it, or its close never comes
      src.stdout.unpipe(dst.stdin);
      src.stdout.resume();
      if (r.exitCode !== 0) src.kill();
      return r;
    }),
  ]);
  return { bytes, from: a, to: b };
}
