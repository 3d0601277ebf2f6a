import { traceSteps, tracing, type Transport } from "../transport/transport";
import { syncScript } from "./durable";

/**
 * One operation on a host (a create, a start, a stop, a delete) as one script: one command, one
 * SSH round trip. Its steps run in order; when one fails, the undos registered so far run in
 * reverse, and the script exits non-zero naming the step, with that step's stderr alone.
 */
export interface Step {
  /** Named in the error: `<step>: <its stderr>`. */
  name: string;
  /** Shell run in a subshell (`exit` ends the step); its stdout is dropped unless `output`. */
  run: string;
  /**
   * Shell that takes back what the step made, registered before the step runs (so a step that
   * fails halfway is undone too): it must be idempotent and touch only what the step makes.
   */
  undo?: string;
  /** The step's stdout goes to the script's stdout (the caller parses it). */
  output?: boolean;
  /** Register the undo only once the step succeeded (a step that fails made nothing of its own, e.g. an exclusive mkdir). */
  undoWhenDone?: boolean;
  /**
   * The records the step writes, renames or removes on the host (files, directories; `*` globs):
   * the script ends with one sync of them all (durable.ts), so a success is on disk.
   */
  writes?: string[];
}

/** A point where a test stops the operation for good (see reconcile/test-hooks.ts). */
export interface Pause {
  pause: string;
}

/** The crash-test hook as the script honours it: where to stop, and the file that says it stopped there. */
export interface PauseHook {
  at: string;
  file?: string;
}

const marker = "@@kslice-step";
const timeMarker = "@@kslice-time";

/** Each step's name and milliseconds, from a timed script's stderr (the marks after `begin`). */
export function stepTimes(stderr: string): { name: string; ms: number }[] {
  const marks = stderr
    .split("\n")
    .filter((l) => l.startsWith(`${timeMarker} `))
    .map((l) => l.split(" "))
    .map(([, name, at]) => ({ name: name!, at: Number(at) }));
  return marks.slice(1).map((m, i) => ({ name: m.name, ms: m.at - marks[i]!.at }));
}

/**
 * The script (for `sh -s`: file contents in it travel over stdin, never in argv). At a pause
 * point named by `hook`, the script writes the point's name to hook.file and then waits for its
 * caller (the provider) to die, and exits without undoing anything: as if the whole create had
 * been SIGKILLed there.
 */
export function transactionScript(steps: (Step | Pause)[], hook?: PauseHook, timed = false): string {
  // with `timed`, the host's clock after each step on stderr (stepTimes reads it back)
  const mark = (name: string) => (timed ? [`echo "${timeMarker} ${name} $(date +%s%3N)" >&2`] : []);
  // a step's stderr is kept in $ks_e by command substitution (no temp file: no mktemp, no rm per
  // operation); its stdout goes to fd 3, the script's stdout, or nowhere. A step leaves no process
  // holding its stderr (runtime and supervisor have theirs on the log or /dev/null).
  const out = [
    `exec 3>&1`,
    `ks_undo=`,
    `ks_fail() {`,
    ...mark("$1").map((l) => `  ${l}`),
    `  for u in $ks_undo; do ( $u ) </dev/null >/dev/null 2>&1 3>&-; done`,
    `  echo "${marker} $1 $2" >&2; printf '%s\n' "$ks_e" >&2; exit 1`,
    `}`,
    ...mark("begin"),
  ];
  steps.forEach((s, i) => {
    if ("pause" in s) {
      out.push(...pauseLines(s.pause, hook));
      return;
    }
    out.push(`ks_step_${i}() {`, s.run, `}`);
    const register = `ks_undo="ks_undo_${i} $ks_undo"`;
    if (s.undo) out.push(`ks_undo_${i}() {`, s.undo, `}`, ...(s.undoWhenDone ? [] : [register]));
    const stdout = s.output ? "&3" : "/dev/null";
    out.push(`ks_e=$( ( ks_step_${i} ) </dev/null 2>&1 >${stdout} 3>&- ) || ks_fail ${stepName(s.name)} $?`);
    if (s.undo && s.undoWhenDone) out.push(register);
    out.push(...mark(stepName(s.name)));
  });
  // what the steps wrote, on disk before the script says it succeeded: one sync per operation
  const writes = steps.flatMap((s) => ("pause" in s ? [] : (s.writes ?? [])));
  if (writes.length)
    out.push(`ks_sync() {`, syncScript(writes), `}`, `ks_e=$( ( ks_sync ) </dev/null 2>&1 >/dev/null 3>&- ) || ks_fail sync $?`, ...mark("sync"));
  out.push(`exit 0`);
  return out.join("\n");
}

/**
 * The shell of a test pause point (reconcile/test-hooks.ts): nothing unless `hook` names `point`;
 * then it writes the point's name to hook.file, waits for its caller (the provider) to die, and
 * exits 99 without undoing anything. Scripts other than transactions (a migration's) use it too.
 */
export function pauseLines(point: string, hook: PauseHook | undefined): string[] {
  if (hook?.at !== point) return [];
  return [
    ...(hook.file ? [`printf '%s' '${point.replace(/[^a-z0-9_-]/gi, "")}' > '${hook.file.replace(/'/g, `'\\''`)}'`] : []),
    `while kill -0 $PPID 2>/dev/null; do sleep 0.1; done`,
    `exit 99`,
  ];
}

const stepName = (n: string) => n.replace(/[^A-Za-z0-9_.-]/g, "-");

/** A step of an operation failed: its name, exit status and stderr. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly exitCode: number,
    readonly stderr: string,
    /** The host it ran on, where the message must say (a migration's steps run on two). */
    readonly host?: string,
    options?: { cause?: unknown },
  ) {
    super(
      host === undefined ? `${step}: ${stderr || `exited with ${exitCode}`}` : `step "${step}" on host ${host}: ${stderr || `exited with ${exitCode}`}`,
      options,
    );
    this.name = "StepError";
  }

  /** A step on a named host that failed with `cause` (its message as the stderr; its exit status when it had one). */
  static on(step: string, host: string, cause: unknown): StepError {
    const code = cause instanceof StepError ? cause.exitCode : 1;
    return new StepError(step, code, (cause as Error)?.message ?? String(cause), host, { cause });
  }
}

/** Runs an operation's script; resolves with its stdout, rejects with a StepError naming the failing step. */
export async function runTransaction(
  t: Pick<Transport, "run"> & Partial<Pick<Transport, "target">>,
  steps: (Step | Pause)[],
  options: { timeoutMs?: number; hook?: PauseHook } = {},
): Promise<string> {
  const timed = tracing();
  const r = await t.run(["sh", "-s"], { input: transactionScript(steps, options.hook, timed), allowFailure: true, timeoutMs: options.timeoutMs ?? 180_000 });
  if (timed) traceSteps(t.target ?? "host", stepTimes(r.stderr));
  if (r.exitCode === 0 && !r.timedOut) return r.stdout;
  const stderr = timed ? r.stderr.replace(new RegExp(`^${timeMarker} .*\n`, "gm"), "") : r.stderr;
  const at = stderr.lastIndexOf(`${marker} `);
  if (at < 0) throw new StepError("script", r.exitCode, r.timedOut ? "timed out" : stderr.trim());
  const [head, ...rest] = stderr.slice(at).split("\n");
  const [, name = "script", code = "1"] = head!.split(" ");
  const before = stderr.slice(0, at).trim();
  throw new StepError(name, Number(code), [before, rest.join("\n").trim()].filter(Boolean).join("\n"));
}
