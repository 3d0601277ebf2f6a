import { pipeHosts, type PipeResult } from "../../transport/stream";
import { shellQuote as q, type Transport } from "../../transport/transport";
import type { PauseHook } from "../transaction";
import { emptyNetFlag } from "./migrate";
import { StepError } from "../transaction";
import {
  archiveImagesScript,
  archiveUpperScript,
  finalDumpScript,
  preDumpScript,
  unpackImagesScript,
  keepTargetManifestScript,
  liveSupportScript,
  pruneUpperScript,
  restoreUpperScript,
  upperManifestScript,
  upperSizeScript,
  type ArchivePhase,
  type ImagesPart,
} from "./migrate";

/**
 * A move's commands on its two hosts (reconcile/container/move.ts orders them): each function runs
 * migrate.ts's scripts and returns a typed result. A failure names the step and the host it ran on.
 */

/** One end of a move: the host's transport, its name in messages, the container's bundle there. */
export interface MoveEnd {
  t: Transport;
  name: string;
  bundle: string;
}

/** Answers a trivial command within 15 s, or throws why not. */
export async function answers(t: Transport): Promise<void> {
  await t.run(["true"], { timeoutMs: 15_000 });
}

/** "ok" when the host can checkpoint and restore with `runtime`, or one line saying why not. */
export async function readLiveSupport(t: Transport, runtime: "runc" | "crun"): Promise<string> {
  const r = await t.run(["sh", "-c", liveSupportScript(runtime)], { timeoutMs: 30_000, allowFailure: true });
  return r.stdout.trim() || r.stderr.trim() || `exit ${r.exitCode}`;
}

/**
 * Why a container on a Network cannot move live with crun: kslice checkpoints it without its
 * network namespace's contents and attaches its networks anew after the restore, which needs the
 * runtime's `--empty-ns network` (runc's; crun has no such option).
 */
export const liveNetworkBlocker =
  "the container is on a Network, which moves live only with runc on both hosts (runc checkpoint and restore --empty-ns network: its networks are attached anew after the restore); crun has no such option";

/** The user-namespace base a bundle was made with (its kslice.json), if any. */
export async function readUidBase(t: Transport, bundle: string): Promise<number | undefined> {
  const [meta] = await t.readFiles([`${bundle}/kslice.json`]);
  try {
    const b = meta ? (JSON.parse(meta) as { uidBase?: unknown }).uidBase : undefined;
    return typeof b === "number" ? b : undefined;
  } catch {
    return undefined;
  }
}

/** Is the rootfs template `lower` on the host? */
export async function hasTemplate(t: Transport, lower: string): Promise<boolean> {
  return (await t.run(["test", "-d", lower], { allowFailure: true })).exitCode === 0;
}

/** Throws naming the side of a pipe that failed (the target's first: a source killed by the pipe says less). */
function sideFailed(r: PipeResult, fromStep: string, toStep: string, from: string, to: string): void {
  const failed = (side: { exitCode: number; stderr: string; timedOut: boolean }) =>
    side.timedOut ? "timed out" : `exited with ${side.exitCode}: ${side.stderr.trim() || "(no stderr)"}`;
  if (r.to.exitCode !== 0 || r.to.timedOut) throw StepError.on(toStep, to, new Error(failed(r.to)));
  if (r.from.exitCode !== 0 || r.from.timedOut) throw StepError.on(fromStep, from, new Error(failed(r.from)));
}

/**
 * Streams the source bundle's upper dir into the target bundle (host to host through this process),
 * with `shift` mapping user-namespace ids when the ranges differ. The changes phase first removes on
 * the target what went since the pre-copy, and sends the target's listing back so that what it
 * lacks goes too, whatever its times. `onBytes` sees the running total and the layer's size (0:
 * not measured). Returns the bytes moved.
 */
export async function streamUpper(
  from: MoveEnd,
  to: MoveEnd,
  o: { shift?: { from: number; to: number }; phase: ArchivePhase; lower: string; hook?: PauseHook; onBytes?: (bytes: number, total: number) => void },
): Promise<number> {
  if (o.phase.kind === "changes") {
    const pruned = await pipeHosts(from.t, ["sh", "-c", upperManifestScript(from.bundle)], to.t, ["sh", "-c", pruneUpperScript(to.bundle)], {
      timeoutMs: 600_000,
    });
    sideFailed(pruned, "listing of the writable layer", "removal of what went since the pre-copy", from.name, to.name);
    const listed = await pipeHosts(to.t, ["sh", "-c", upperManifestScript(to.bundle)], from.t, ["sh", "-c", keepTargetManifestScript(from.bundle)], {
      timeoutMs: 600_000,
    });
    sideFailed(listed, "listing of the target's copy", "keeping the target's listing", to.name, from.name);
  }
  const total = o.phase.kind === "changes" ? 0 : Number((await from.t.run(["sh", "-c", upperSizeScript(from.bundle)])).stdout.trim()) || 0;
  const r = await pipeHosts(
    from.t,
    ["sh", "-c", archiveUpperScript(from.bundle, o.shift, o.phase)],
    to.t,
    ["sh", "-c", restoreUpperScript(to.bundle, o.lower, o.hook, o.phase.kind)],
    { timeoutMs: 3_600_000, onBytes: (n) => o.onBytes?.(n, total) },
  );
  sideFailed(r, "copy of the writable layer (tar)", "copy of the writable layer (unpack)", from.name, to.name);
  return r.bytes;
}

/** The source of a live migration: its runtime and the runtime's root (start.sh's), the container's name there. */
export interface LiveEnd extends MoveEnd {
  runtime: "runc" | "crun";
  runtimeRoot: string;
  id: string;
}

/**
 * A pre-dump round (`{ round }`, from 1) while the container runs, returning the bytes of its pages,
 * or the final dump after `rounds` of them that ends it on the source (returning 0).
 */
export async function checkpointOnSource(from: LiveEnd, part: { round: number } | { final: true; rounds: number }): Promise<number> {
  const rt = `${from.runtime} --root ${q(from.runtimeRoot)}`;
  const emptyNet = from.runtime === "runc" ? emptyNetFlag : "";
  const script =
    "round" in part ? preDumpScript(rt, from.bundle, from.id, part.round, emptyNet) : finalDumpScript(rt, from.bundle, from.id, part.rounds, emptyNet);
  const r = await from.t.run(["sh", "-c", script], { timeoutMs: 600_000, allowFailure: true });
  if (r.exitCode !== 0)
    throw StepError.on("round" in part ? `pre-dump ${part.round} (criu)` : "final dump (criu)", from.name, new Error(r.stderr.trim() || `exit ${r.exitCode}`));
  return "round" in part ? Number(r.stdout.trim()) || 0 : 0;
}

/** Streams checkpoint images from the source's bundle into the target's (host to host through this process). Returns the bytes moved. */
export async function streamImages(from: MoveEnd, to: MoveEnd, part: ImagesPart): Promise<number> {
  const r = await pipeHosts(from.t, ["sh", "-c", archiveImagesScript(from.bundle, part)], to.t, ["sh", "-c", unpackImagesScript(to.bundle)], {
    timeoutMs: 600_000,
  });
  sideFailed(r, `checkpoint images (${part}) (tar)`, `checkpoint images (${part}) (unpack)`, from.name, to.name);
  return r.bytes;
}
