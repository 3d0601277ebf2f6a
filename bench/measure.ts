// One N, in order: the engine floor, kslice (plain, then each container on a Network) through the
// engine, raw runc, podman. Each phase cleans up after itself; what a failed step leaves is destroyed
// at the end of the run (stack.ts undestroyed, baselines' cleanups).
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { mean, median, ms1, now, progress, run, s, say, sh } from "./common";
import { countEnv, countExecs, readCommandCount, straceAvailable, straceWrap, type ExecCount } from "./commands";
import { loadAverage } from "./machine";
import { podmanPeer, rawRunc, type PodmanResult, type RawResult } from "./baselines";
import { cgroupPssKiB, idleCost, isSupervisor, ksliceHostProcs, meminfo, sampleHost, type HostMem, type IdleCost } from "./samplers";
import { runStack, stackTimeoutMs, summaryText, undestroyed, type Ctx, type OpResult } from "./stack";

/** Host commands of one no-op preview: the provider's own count and the strace proxy. */
export interface Commands {
  provider?: number;
  traced?: ExecCount;
}

/** A stack whose provider does nothing: up, no-op up, no-op preview, destroy. */
export interface DoNothing {
  up?: OpResult;
  upNoop?: OpResult;
  preview?: OpResult;
  destroy?: OpResult;
}

export interface NResult {
  n: number;
  load: string;
  floor: DoNothing;
  /** kslice's own resources and program with a do-nothing provider (bench/programs/shaped). */
  shaped: DoNothing;
  kslice: {
    up?: OpResult;
    upNoop?: OpResult;
    preview?: OpResult;
    refresh?: OpResult;
    destroy?: OpResult;
    outputs?: OpResult;
    running?: number;
    mem?: HostMem;
    supervisors?: number;
    idle?: IdleCost;
    commands?: Commands;
  };
  /** The same containers, each on one network (bench/programs/networked). */
  networked: { up?: OpResult; preview?: OpResult; destroy?: OpResult; commands?: Commands };
  /** The creates of the floor, kslice and kslice on a Network again, with the engine's checkpoints skipped. */
  unsaved: { floor?: OpResult; kslice?: OpResult; networked?: OpResult };
  raw?: RawResult;
  podman?: PodmanResult;
  errors: string[];
}

/**
 * The engine's settings that skip its checkpoints: the file backend otherwise rewrites the whole
 * state after every step (O(N) per step, O(N²) per up). Experimental in Pulumi; measured to show what
 * those writes cost, and what is left of a create without them.
 */
export const skipCheckpoints = { PULUMI_EXPERIMENTAL: "true", PULUMI_SKIP_CHECKPOINTS: "true" };

/** Runs of each no-op preview; the median is reported. */
const previewRuns = 3;

export async function benchN(c: Ctx, n: number): Promise<NResult> {
  const r: NResult = { n, load: loadAverage(), floor: {}, shaped: {}, kslice: {}, networked: {}, unsaved: {}, errors: [] };
  const timeout = stackTimeoutMs(n);
  const deadline = () => now() + 60_000 + n * 5_000;
  const strace = straceAvailable();
  say(`\n== N = ${n}  (load average at start: ${r.load})`);
  /** Prints one step's result (`detail` after its time) and records its failure. */
  const reported = (label: string, x: OpResult, detail: string): OpResult => {
    progress(`${label}: ${s(x.ms)} s${detail} ${summaryText(x)}`);
    if (!x.ok) {
      r.errors.push(`${label}: ${x.error}`);
      say(`    ${x.error?.replace(/\n/g, "\n    ")}`);
    }
    return x;
  };
  const step = async (label: string, program: string, stack: string, op: string, env?: Record<string, string>): Promise<OpResult> => {
    if (run.aborted) throw new Error("aborted");
    const x = await runStack(c, op, program, stack, n, timeout, { env });
    return reported(label, x, x.engine ? ` (engine: ${x.engine})` : "");
  };
  /**
   * A no-op preview, `previewRuns` times: it changes nothing, so the runs are alike, and their
   * median is what compares (one preview of the floor varies between runs of the bench).
   */
  const previews = async (label: string, program: string, stack: string, env?: Record<string, string>): Promise<OpResult> => {
    if (run.aborted) throw new Error("aborted");
    const runs: OpResult[] = [];
    for (let i = 0; i < previewRuns; i++) {
      const x = await runStack(c, "preview", program, stack, n, timeout, { env });
      runs.push(x);
      if (!x.ok || run.aborted) break;
    }
    const failed = runs.find((x) => !x.ok);
    const samples = runs.map((x) => x.ms);
    if (failed) return reported(label, failed, "");
    return reported(label, { ...runs[0]!, ms: median(samples)!, samples }, ` (median of ${samples.map(s).join(", ")})`);
  };
  /** The timed no-op previews with the provider's counter on, then (untimed) once more under strace. */
  const countedPreview = async (label: string, program: string, stack: string): Promise<{ preview: OpResult; commands: Commands }> => {
    const dir = mkdtempSync(join(c.tmp, "count-"));
    const preview = await previews(label, program, stack, { [countEnv]: join(dir, "provider") });
    // the counter file sums every run's commands
    const count = readCommandCount(join(dir, "provider"));
    const commands: Commands = { provider: count === undefined ? undefined : count / (preview.samples?.length ?? 1) };
    if (preview.ok && strace && !run.aborted) {
      const trace = join(dir, "trace");
      const x = await runStack(c, "preview", program, stack, n, timeout, { wrap: straceWrap(trace) });
      if (x.ok) commands.traced = countExecs(trace);
      else r.errors.push(`${label} under strace: ${x.error}`);
    }
    const top = commands.traced?.byProgram
      .slice(0, 6)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    progress(
      `${label}: host commands: provider's count ${commands.provider === undefined ? "n/a" : +commands.provider.toFixed(2)}; exec'd by the provider (strace) ${commands.traced?.commands ?? "n/a"}${top ? ` (${top})` : ""}`,
    );
    rmSync(dir, { recursive: true, force: true });
    return { preview, commands };
  };

  /** A do-nothing stack of `program`, made, previewed and destroyed (the no-op up only when asked). */
  const doNothing = async (label: string, program: string, into: DoNothing, noopUp: boolean) => {
    const st = `${program}-n${n}`;
    try {
      undestroyed.add(`${program}|${st}|${n}`);
      into.up = await step(`${label} up (create)`, program, st, "up");
      if (into.up.ok) {
        if (noopUp) into.upNoop = await step(`${label} up (no-op)`, program, st, "up");
        into.preview = await previews(`${label} preview (no-op)`, program, st);
      }
      into.destroy = await step(`${label} destroy`, program, st, "destroy");
      if (into.destroy.ok) undestroyed.delete(`${program}|${st}|${n}`);
    } catch (e) {
      r.errors.push(`${label}: ${(e as Error).message}`);
    }
  };

  // 1. the engine's floor: N do-nothing dynamic resources
  await doNothing("floor", "noop", r.floor, true);
  // 1b. the same floor in kslice's shape: its Host, budget and N Containers, a do-nothing provider
  await doNothing("shaped floor", "shaped", r.shaped, false);

  // 2. kslice through the engine
  const ks = `containers-n${n}`;
  try {
    undestroyed.add(`containers|${ks}|${n}`);
    const before = meminfo();
    r.kslice.up = await step("kslice up (create)", "containers", ks, "up");
    if (r.kslice.up.ok) {
      const list = sh(`runc --root /run/${c.prefix}/runtime list --format json`).out.trim();
      const states = list && list !== "null" ? (JSON.parse(list) as { status: string }[]) : [];
      r.kslice.running = states.filter((x) => x.status === "running").length;
      progress(`runc lists ${r.kslice.running} running of ${n}`);
      if (r.kslice.running !== n) r.errors.push(`kslice: ${r.kslice.running} containers running after up, expected ${n}`);
      const supervisor = isSupervisor(c.prefix);
      r.kslice.supervisors = ksliceHostProcs(c.prefix).filter(supervisor).length;
      r.kslice.mem = await sampleHost(() => ksliceHostProcs(c.prefix), supervisor);
      r.kslice.idle = idleCost(n, before, meminfo(), cgroupPssKiB(c.prefix));
      progress(`kslice host processes outside containers (first sample): ${r.kslice.mem.procs.join("; ") || "none"}`);
      progress(
        `kslice idle, per container: ${r.kslice.idle.beyondOwnKiB.toFixed(0)} KiB of host memory beyond its own processes (${r.kslice.idle.ownKiB.toFixed(0)} KiB PSS), kernel objects ${r.kslice.idle.kernelKiB.toFixed(0)} KiB; supervisor CPU ${r.kslice.mem.cpuPct.toFixed(2)}% of a core over ${s(r.kslice.mem.windowMs)} s`,
      );
      r.kslice.upNoop = await step("kslice up (no-op)", "containers", ks, "up");
      const counted = await countedPreview("kslice preview (no-op)", "containers", ks);
      r.kslice.preview = counted.preview;
      r.kslice.commands = counted.commands;
      r.kslice.outputs = await step("runner fixed cost (stack.js outputs)", "containers", ks, "outputs");
      r.kslice.refresh = await step("kslice refresh", "containers", ks, "refresh");
    }
    r.kslice.destroy = await step("kslice destroy", "containers", ks, "destroy");
    if (r.kslice.destroy.ok) undestroyed.delete(`containers|${ks}|${n}`);
  } catch (e) {
    r.errors.push(`kslice: ${(e as Error).message}`);
  }

  // 2b. the same containers, each on a network: the cost of a veth, an address and the rules
  const kn = `networked-n${n}`;
  if (c.opts.network) {
    try {
      undestroyed.add(`networked|${kn}|${n}`);
      r.networked.up = await step("kslice up with a network (create)", "networked", kn, "up");
      if (r.networked.up.ok) {
        const counted = await countedPreview("kslice preview with a network (no-op)", "networked", kn);
        r.networked.preview = counted.preview;
        r.networked.commands = counted.commands;
      }
      r.networked.destroy = await step("kslice destroy with a network", "networked", kn, "destroy");
      if (r.networked.destroy.ok) undestroyed.delete(`networked|${kn}|${n}`);
    } catch (e) {
      r.errors.push(`kslice with a network: ${(e as Error).message}`);
    }
  }

  // 2c. the three creates again, the engine's checkpoints skipped (each stack destroyed the same way)
  if (c.opts.unsaved) {
    const unsaved = async (label: string, program: string): Promise<OpResult | undefined> => {
      const st = `${program}-unsaved-n${n}`;
      try {
        undestroyed.add(`${program}|${st}|${n}`);
        const up = await step(`${label} up (create), checkpoints skipped`, program, st, "up", skipCheckpoints);
        const down = await step(`${label} destroy, checkpoints skipped`, program, st, "destroy", skipCheckpoints);
        if (down.ok) undestroyed.delete(`${program}|${st}|${n}`);
        return up;
      } catch (e) {
        r.errors.push(`${label}, checkpoints skipped: ${(e as Error).message}`);
        return undefined;
      }
    };
    r.unsaved.floor = await unsaved("floor", "noop");
    r.unsaved.kslice = await unsaved("kslice", "containers");
    if (c.opts.network) r.unsaved.networked = await unsaved("kslice with a network", "networked");
  }

  // 3. raw runc, sequential
  if (!run.aborted) {
    progress(`raw runc: ${n} × runc run -d …`);
    r.raw = await rawRunc(c.prefix, n, deadline());
    if (r.raw.error) r.errors.push(`raw runc: ${r.raw.error}`);
    progress(
      `raw runc: ${r.raw.started} started, mean ${ms1(mean(r.raw.runMs) ?? 0)} ms per runc run -d; deleted ${r.raw.deleteMs.length}${r.raw.error ? `; error: ${r.raw.error}` : ""}`,
    );
  }

  // 4. podman, sequential
  if (!run.aborted && c.opts.podman) {
    progress(`podman: ${n} × podman run -d …`);
    r.podman = await podmanPeer(c.prefix, n, deadline());
    if (!r.podman.available) progress(`podman: unavailable: ${r.podman.error}`);
    else {
      if (r.podman.error) r.errors.push(`podman: ${r.podman.error}`);
      progress(
        `podman: ${r.podman.started} started, mean ${ms1(mean(r.podman.runMs) ?? 0)} ms per podman run -d; rm -f -a + cleanup ${s(r.podman.rmMs ?? 0)} s`,
      );
    }
    if (r.podman.leftovers) r.errors.push(`podman: left after rm -f -a: ${r.podman.leftovers}`);
  }
  return r;
}
