// What a run prints: per N, the times and the host cost; at the end, a summary over N, the targets
// of issue 12 (before / now / target / met?), and markdown ready for README's Performance section.
import { cpus } from "node:os";
import { mean, median, ms1, ratio, s, say, sum } from "./common";
import type { HostMem, IdleCost } from "./samplers";
import { summaryText, type Ctx, type OpResult } from "./stack";
import type { NResult } from "./measure";
import targetsData from "./results/issue-12-targets.json";

export function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(header), w.map((x) => "-".repeat(x)).join("  "), ...rows.map(line)].join("\n");
}

export function markdown(rows: string[][], header: string[]): string {
  const line = (r: string[]) => `| ${r.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

// ---------- one N ----------

export function reportN(c: Ctx, r: NResult): void {
  const n = r.n;
  const per = (x?: OpResult) => (x?.ok ? ms1(x.ms / n) : "n/a");
  const tot = (x?: OpResult) => (x ? (x.ok ? s(x.ms) : "FAILED") : "-");
  const rows: string[][] = [];
  const add = (what: string, base: string, x?: OpResult) => rows.push([what, base, tot(x), per(x), x?.engine ?? "", x ? summaryText(x) : ""]);
  add("kslice up (create N+2)", "kslice", r.kslice.up);
  add("kslice up (no-op)", "kslice", r.kslice.upNoop);
  add("kslice preview (no-op)", "kslice", r.kslice.preview);
  add("kslice refresh", "kslice", r.kslice.refresh);
  add("kslice destroy", "kslice", r.kslice.destroy);
  add("kslice up with a network (create N+3)", "kslice", r.networked.up);
  add("kslice preview with a network (no-op)", "kslice", r.networked.preview);
  add("kslice destroy with a network", "kslice", r.networked.destroy);
  add("noop up (create N)", "engine floor", r.floor.up);
  add("noop up (no-op)", "engine floor", r.floor.upNoop);
  add("noop preview (no-op)", "engine floor", r.floor.preview);
  add("noop destroy", "engine floor", r.floor.destroy);
  add("shaped up (create N+2)", "shaped floor", r.shaped.up);
  add("shaped preview (no-op)", "shaped floor", r.shaped.preview);
  add("shaped destroy", "shaped floor", r.shaped.destroy);
  add("noop up (create N), checkpoints skipped", "engine floor", r.unsaved.floor);
  add("kslice up (create N+2), checkpoints skipped", "kslice", r.unsaved.kslice);
  add("kslice up with a network (create N+3), checkpoints skipped", "kslice", r.unsaved.networked);
  add("stack.js outputs (fixed cost of every run)", "runner", r.kslice.outputs);
  const rr = r.raw;
  if (rr) {
    rows.push([
      "runc run -d, sequential",
      "raw runc",
      s(sum(rr.runMs)),
      ms1(mean(rr.runMs) ?? NaN),
      `median ${ms1(median(rr.runMs) ?? NaN)}`,
      `${rr.started} started`,
    ]);
    rows.push([
      "runc delete -f, sequential",
      "raw runc",
      s(sum(rr.deleteMs)),
      ms1(mean(rr.deleteMs) ?? NaN),
      `median ${ms1(median(rr.deleteMs) ?? NaN)}`,
      `${rr.deleteMs.length} deleted`,
    ]);
  }
  const pr = r.podman;
  if (pr?.available) {
    rows.push([
      "podman run -d, sequential",
      "podman",
      s(sum(pr.runMs)),
      ms1(mean(pr.runMs) ?? NaN),
      `median ${ms1(median(pr.runMs) ?? NaN)}`,
      `${pr.started} started`,
    ]);
    rows.push(["podman rm -f -a + cleanup", "podman", s(pr.rmMs ?? NaN), ms1((pr.rmMs ?? NaN) / n), "", ""]);
  }
  say(`\n-- N = ${n}: times (wall clock of each command; engine runs with --parallel ${c.opts.parallel}; load at start ${r.load})`);
  say(table(rows, ["measured", "baseline", "total s", "ms/container", "engine/median", "changes"]));

  const ks = r.kslice;
  const podMem = pr?.available && pr.mem ? pr.mem : undefined;
  const window = ks.mem ?? podMem;
  say(
    `\n-- N = ${n}: host processes beside the running containers (mean of ${window?.samples ?? 0} samples over ${s(window?.windowMs ?? 0)} s, all N running, nothing else of the bench running)`,
  );
  const memRow = (what: string, m?: HostMem) =>
    m
      ? [what, String(m.maxProcs), (m.rssKiB / n).toFixed(1), (m.pssKiB / n).toFixed(1), m.rssKiB.toFixed(0), m.cpuPct.toFixed(2)]
      : [what, "n/a", "n/a", "n/a", "", "n/a"];
  say(
    table(
      [
        memRow("kslice (host supervisor + its children, outside container cgroups)", ks.mem),
        ["raw runc (no host process once runc run -d returns)", "0", "0.0", "0.0", "0", "0.00"],
        memRow("podman (conmon, one per container)", podMem),
      ],
      ["measured", "max procs", "RSS KiB/ctr", "PSS KiB/ctr", "RSS KiB total", "CPU % of a core"],
    ),
  );
  if (ks.supervisors !== undefined && ks.supervisors !== 1) say(`   note: ${ks.supervisors} supervisor processes found (expected 1 per prefix)`);

  say(`\n-- N = ${n}: host memory per idle container (/proc/meminfo before the first start and with all N running; a shared machine makes this noisy)`);
  const idleRow = (what: string, x?: IdleCost) =>
    x ? [what, x.beyondOwnKiB.toFixed(0), x.kernelKiB.toFixed(0), x.ownKiB.toFixed(0), String(x.ownProcs)] : [what, "n/a", "n/a", "n/a", "n/a"];
  say(
    table(
      [
        idleRow("kslice (supervisor included)", ks.idle),
        idleRow("raw runc (right after the last start)", rr?.idle),
        idleRow("podman (conmon included)", pr?.available ? pr.idle : undefined),
      ],
      ["measured", "beyond own KiB/ctr", "kernel objects KiB/ctr", "own PSS KiB/ctr", "own procs"],
    ),
  );
}

// ---------- over N ----------

export interface Summary {
  n: number;
  createPer?: number;
  floorCreatePer?: number;
  beyondFloorPer?: number;
  runcPer?: number;
  podmanPer?: number;
  previewPer?: number;
  floorPreviewPer?: number;
  /** The no-op preview of kslice's resources with a do-nothing provider, per container. */
  shapedPreviewPer?: number;
  refreshPer?: number;
  destroyPer?: number;
  previewRatio?: number;
  upNoopRatio?: number;
  ksMem?: number;
  /** The supervisor's PSS / N, KiB. */
  ksPss?: number;
  podMem?: number;
  ksCpu?: number;
  podCpu?: number;
  idle?: IdleCost;
  netCreatePer?: number;
  netPreviewPer?: number;
  /** Host commands per container of a no-op preview: the provider's count, the strace proxy. */
  commandsPer?: number;
  tracedPer?: number;
  netCommandsPer?: number;
  netTracedPer?: number;
  /** Creates with the engine's checkpoints skipped (PULUMI_SKIP_CHECKPOINTS), per container. */
  unsavedCreatePer?: number;
  unsavedFloorCreatePer?: number;
  unsavedNetCreatePer?: number;
}

export function summarise(r: NResult): Summary {
  const n = r.n;
  const ok = (x?: OpResult) => (x?.ok ? x.ms : undefined);
  const perN = (x?: number) => (x === undefined ? undefined : x / n);
  const up = ok(r.kslice.up);
  const fup = ok(r.floor.up);
  const pv = ok(r.kslice.preview);
  const fpv = ok(r.floor.preview);
  const un = ok(r.kslice.upNoop);
  const fun = ok(r.floor.upNoop);
  return {
    n,
    createPer: perN(up),
    floorCreatePer: perN(fup),
    beyondFloorPer: up !== undefined && fup !== undefined ? (up - fup) / n : undefined,
    runcPer: r.raw && !r.raw.error ? mean(r.raw.runMs) : undefined,
    podmanPer: r.podman?.available && !r.podman.error ? mean(r.podman.runMs) : undefined,
    previewPer: perN(pv),
    floorPreviewPer: perN(fpv),
    shapedPreviewPer: perN(ok(r.shaped.preview)),
    refreshPer: perN(ok(r.kslice.refresh)),
    destroyPer: perN(ok(r.kslice.destroy)),
    previewRatio: pv !== undefined && fpv !== undefined ? pv / fpv : undefined,
    upNoopRatio: un !== undefined && fun !== undefined ? un / fun : undefined,
    ksMem: r.kslice.mem ? r.kslice.mem.rssKiB / n : undefined,
    ksPss: r.kslice.mem ? r.kslice.mem.pssKiB / n : undefined,
    podMem: r.podman?.available && r.podman.mem ? r.podman.mem.rssKiB / n : undefined,
    ksCpu: r.kslice.mem?.cpuPct,
    podCpu: r.podman?.available ? r.podman.mem?.cpuPct : undefined,
    idle: r.kslice.idle,
    netCreatePer: perN(ok(r.networked.up)),
    netPreviewPer: perN(ok(r.networked.preview)),
    commandsPer: perN(r.kslice.commands?.provider),
    tracedPer: perN(r.kslice.commands?.traced?.commands),
    netCommandsPer: perN(r.networked.commands?.provider),
    netTracedPer: perN(r.networked.commands?.traced?.commands),
    unsavedCreatePer: perN(ok(r.unsaved.kslice)),
    unsavedFloorCreatePer: perN(ok(r.unsaved.floor)),
    unsavedNetCreatePer: perN(ok(r.unsaved.networked)),
  };
}

const f = (x?: number, d = 1) => (x === undefined ? "n/a" : x.toFixed(d));
const ms = (x?: number) => (x === undefined ? "n/a" : `${x.toFixed(1)} ms`);
const times = (a?: number) => (a === undefined ? "n/a" : `${a.toFixed(2)}×`);
const div = (a?: number, b?: number) => (a === undefined || b === undefined || !(b > 0) ? undefined : a / b);

export function reportSummary(c: Ctx, sums: Summary[], podmanVersion: string): void {
  say(`\n== Summary (kslice engine runs with --parallel ${c.opts.parallel} on ${cpus().length} cores; baselines sequential; ms per container)`);
  say(
    table(
      sums.map((m) => [
        String(m.n),
        f(m.createPer),
        f(m.beyondFloorPer),
        f(m.runcPer),
        f(m.podmanPer),
        ratio(m.createPer, m.runcPer),
        ratio(m.beyondFloorPer, m.runcPer),
        ratio(m.createPer, m.podmanPer),
        times(m.previewRatio),
        ratio(m.shapedPreviewPer, m.floorPreviewPer),
        ratio(m.previewPer, m.shapedPreviewPer),
        times(m.upNoopRatio),
        f(m.ksMem),
        f(m.podMem),
        f(m.ksCpu, 2),
        f(m.podCpu, 2),
        f(m.idle?.beyondOwnKiB, 0),
        f(m.idle?.kernelKiB, 0),
        f(m.netCreatePer),
        ratio(m.netCreatePer, m.createPer),
        f(m.commandsPer, 2),
        f(m.tracedPer, 2),
      ]),
      [
        "N",
        "kslice up/N",
        "(up−floor up)/N",
        "runc run",
        "podman run",
        "kslice/runc",
        "beyond-floor/runc",
        "kslice/podman",
        "preview ks/floor",
        "shaped/floor",
        "ks/shaped",
        "no-op up ks/floor",
        "ks KiB/ctr",
        "conmon KiB/ctr",
        "ks CPU%",
        "conmon CPU%",
        "idle KiB/ctr",
        "kernel KiB/ctr",
        "net up/N",
        "net/plain",
        "cmds/ctr",
        "execs/ctr",
      ],
    ),
  );
  say(`
  kslice up/N        wall time of the engine's up that creates Host + budget + N containers, divided by N
                     (creates run in parallel through the engine: --parallel ${c.opts.parallel}, on ${cpus().length} cores)
  (up−floor up)/N    the same minus the engine floor's up of N do-nothing dynamic resources, divided by N
  runc run           mean of N sequential \`runc run -d\` (raw runc floor: bundle, overlay and spec prepared untimed)
  podman run         mean of N sequential \`podman run -d --rootfs\` (${podmanVersion})
  preview ks/floor   no-op preview of the kslice stack (N+2 resources) / no-op preview of the floor stack (N resources)
  shaped/floor       no-op preview of the shaped floor (kslice's program and resources, each with a provider that
                     does nothing and returns outputs of the same shape) / the floor's: what a Container's
                     properties cost the SDK and the engine
  ks/shaped          kslice's no-op preview / the shaped floor's: what kslice's own checks, diffs and reads add
  ks KiB/ctr         RSS of kslice's host processes outside container cgroups (the supervisor) / N
  conmon KiB/ctr     RSS of podman's conmon processes / N
  ks CPU%, conmon    CPU they use while the N containers idle, % of one core (with the children they reap)
  idle KiB/ctr       host memory per idle kslice container beyond its own processes: (MemAvailable before up
                     − with all N running − the containers' own PSS) / N; the supervisor, kernel objects and
                     page cache included; noisy on a shared machine
  kernel KiB/ctr     Δ(SUnreclaim + KernelStack + PageTables + Percpu) / N over the same interval: kernel objects
                     that cannot be dropped (containers' own and the host's)
  net up/N           kslice up/N with every container on one Network (veth, allocated address, its rules)
  net/plain          net up/N against kslice up/N of the same run: what networking adds to a create
  cmds/ctr           host commands of the no-op preview / N, as the provider counts them (KSLICE_COUNT_COMMANDS);
                     n/a while the provider does not report them
  execs/ctr          programs the provider exec'd during the same preview run again under strace / N (local proxy)`);
  reportTargets(sums);
  reportCheckpoints(sums);
}

/** Without the engine's per-step state writes: what they cost a create, and the ratios without them. */
function checkpointRows(sums: Summary[]): { header: string[]; rows: string[][] } {
  const share = (a?: number, b?: number) => (a === undefined || b === undefined || !(a > 0) ? "n/a" : `${(((a - b) / a) * 100).toFixed(0)}%`);
  const floorRunc = (m: Summary) => (m.unsavedFloorCreatePer !== undefined && m.runcPer !== undefined ? m.unsavedFloorCreatePer + m.runcPer : undefined);
  const row = (what: string, get: (m: Summary) => string) => [what, ...sums.map(get)];
  return {
    header: ["per container, checkpoints skipped", ...sums.map((m) => `N=${m.n}`)],
    rows: [
      row("kslice create (with checkpoints)", (m) => `${ms(m.unsavedCreatePer)} (${ms(m.createPer)})`),
      row("kslice create on a Network (with checkpoints)", (m) => `${ms(m.unsavedNetCreatePer)} (${ms(m.netCreatePer)})`),
      row("engine floor create (with checkpoints)", (m) => `${ms(m.unsavedFloorCreatePer)} (${ms(m.floorCreatePer)})`),
      row("share of kslice's create that is checkpoints", (m) => share(m.createPer, m.unsavedCreatePer)),
      row(
        "create with a network / plain create (with checkpoints)",
        (m) => `${ratio(m.unsavedNetCreatePer, m.unsavedCreatePer)} (${ratio(m.netCreatePer, m.createPer)})`,
      ),
      row("create / (engine floor + `runc run -d`)", (m) => ratio(m.unsavedCreatePer, floorRunc(m))),
      row("kslice create / `podman run -d`", (m) => ratio(m.unsavedCreatePer, m.podmanPer)),
    ],
  };
}

function reportCheckpoints(sums: Summary[]): void {
  if (sums.every((m) => m.unsavedCreatePer === undefined)) return;
  say(`\n== The engine's checkpoints (creates run again with PULUMI_EXPERIMENTAL=true PULUMI_SKIP_CHECKPOINTS=true: the state written once, at the end)`);
  const { header, rows } = checkpointRows(sums);
  say(table(rows, header));
}

// ---------- the targets of issue 12 ----------

/** How each target's figure is computed from a run and shown; the targets, their figures before and thresholds are data. */
const values = {
  createOverFloorAndRunc: {
    now: (m: Summary) => div(m.createPer, m.floorCreatePer !== undefined && m.runcPer !== undefined ? m.floorCreatePer + m.runcPer : undefined),
    show: times,
  },
  networkOverPlainCreate: { now: (m: Summary) => div(m.netCreatePer, m.createPer), show: times },
  previewOverFloor: { now: (m: Summary) => m.previewRatio, show: times },
  createOverPodman: {
    now: (m: Summary) => div(m.createPer, m.podmanPer),
    show: (v: number) => (v < 1 ? `${(1 / v).toFixed(2)}× faster` : `${v.toFixed(2)}× slower`),
  },
  commandsPerContainer: { now: (m: Summary) => m.commandsPer, show: (v: number) => v.toFixed(2) },
  execsPerContainer: { now: (m: Summary) => m.tracedPer, show: (v: number) => v.toFixed(2) },
} satisfies Record<string, { now: (m: Summary) => number | undefined; show: (v: number) => string }>;

/** bench/results/issue-12-targets.json: what the figures were before the work and what they must reach. */
interface Targets {
  issue: number;
  before: { date: string; source: string };
  targets: { measure: string; value: keyof typeof values; before: string; target: string; atMost?: number; below?: number }[];
}
const goals = targetsData as Targets;

function met(t: Targets["targets"][number], v: number): boolean {
  if (t.atMost !== undefined) return v <= t.atMost;
  if (t.below !== undefined) return v < t.below;
  throw new Error(`bench/results/issue-12-targets.json: "${t.measure}" has neither atMost nor below`);
}

export function targetRows(sums: Summary[]): { header: string[]; rows: string[][] } {
  const one = sums.length === 1;
  const header = ["measure", `before (${goals.before.date}, ${goals.before.source})`, ...sums.map((m) => (one ? "now" : `now (N=${m.n})`)), "target", "met?"];
  const rows = goals.targets.map((t) => {
    const value = values[t.value];
    const figures = sums.map((m) => value.now(m));
    const missed = sums.filter((m, i) => figures[i] !== undefined && !met(t, figures[i]!)).map((m) => m.n);
    const measured = figures.some((v) => v !== undefined);
    const verdict = !measured ? "n/a" : missed.length === 0 ? "yes" : one ? "no" : `no (N=${missed.join(", ")})`;
    return [t.measure, t.before, ...figures.map((v) => (v === undefined ? "n/a" : value.show(v))), t.target, verdict];
  });
  return { header, rows };
}

function reportTargets(sums: Summary[]): void {
  const { header, rows } = targetRows(sums);
  say(`\n== Targets of issue ${goals.issue} (ratios measured in this run; benchmarks, not assertions)`);
  say(table(rows, header));
}

// ---------- markdown for README ----------

export function reportMarkdown(sums: Summary[], commandLine: string, date: string): void {
  const cols = ["per container", ...sums.map((m) => `N=${m.n}`)];
  const row = (what: string, get: (m: Summary) => string) => [what, ...sums.map(get)];
  const rows = [
    row("kslice create through the engine", (m) => ms(m.createPer)),
    row("engine floor create (do-nothing dynamic resource)", (m) => ms(m.floorCreatePer)),
    row("sequential `runc run -d`", (m) => ms(m.runcPer)),
    row("sequential `podman run -d --rootfs`", (m) => ms(m.podmanPer)),
    row("kslice create with every container on a Network", (m) => ms(m.netCreatePer)),
    row("kslice no-op preview", (m) => ms(m.previewPer)),
    row("engine floor no-op preview", (m) => ms(m.floorPreviewPer)),
    row("engine floor no-op preview in kslice's shape (its resources, a provider that does nothing)", (m) => ms(m.shapedPreviewPer)),
    row("kslice no-op preview with a Network", (m) => ms(m.netPreviewPer)),
    row("kslice refresh", (m) => ms(m.refreshPer)),
    row("kslice destroy", (m) => ms(m.destroyPer)),
    row("host memory per idle container beyond its own processes: unreclaimable kernel memory + the supervisor's PSS", (m) =>
      m.idle && m.ksPss !== undefined ? `${(m.idle.kernelKiB + m.ksPss).toFixed(0)} KiB` : "n/a",
    ),
    row("the same from MemAvailable (before up − all running − own PSS; noisy on a shared machine)", (m) =>
      m.idle ? `${m.idle.beyondOwnKiB.toFixed(0)} KiB` : "n/a",
    ),
    row("supervisor CPU while all idle", (m) => (m.ksCpu === undefined ? "n/a" : `${m.ksCpu.toFixed(2)}% of a core`)),
    row("host commands per container, no-op preview (provider / strace)", (m) => `${f(m.commandsPer, 2)} / ${f(m.tracedPer, 2)}`),
  ];
  const { header, rows: trows } = targetRows(sums);
  say(`\n== Markdown for README's Performance section\n`);
  say(`On this machine, ${date}, \`${commandLine}\`:\n`);
  say(markdown(rows, cols));
  say("");
  say(markdown(trows, header));
  if (sums.some((m) => m.unsavedCreatePer !== undefined)) {
    const cp = checkpointRows(sums);
    say("");
    say(markdown(cp.rows, cp.header));
  }
}
