// The cost of every tier, printed at the end of `npm test` (scripts/test.sh), so that a slower
// suite shows in every CI log: wall time and test counts per tier, every lab file with its wall
// time, and every lab VM boot with its time.
//
//   node dist/scripts/test-table.js DIR
//
// DIR holds what test.sh recorded: tiers.tsv (tier, start and end in ms, exit status), <tier>.json
// (vitest's JSON reporter), lab-boots.jsonl (one line per startLab, test/lab/lab.ts) and cpu.tsv
// (a label, the time in ms and /proc/stat's first line, at the start, after each host tier and at
// the end), which tells whether the run was bound by the machine's cores or by its longest stream.
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";

interface TierRun {
  tier: string;
  startMs: number;
  endMs: number;
  status: number;
}

interface VitestFile {
  name: string;
  startTime: number;
  endTime: number;
  status: string;
  assertionResults: { status: string }[];
}

interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: VitestFile[];
}

export interface LabBoot {
  /** The test file that booted them, or "shared" for the tier's shared guests. */
  by: string;
  vms: number;
  seconds: number;
  accel: string;
  /** How many of them were restored from a saved booted guest rather than booted. */
  restored?: number;
  /** A boot made to save a guest for later restores (test/lab/snapshot.ts), not a VM a test used. */
  saved?: boolean;
}

export interface TierRow {
  tier: string;
  /** When it started, in seconds after npm test began (what shows which tiers ran at once). */
  from?: number;
  seconds: number;
  status: number;
  files?: number;
  passed?: number;
  failed?: number;
  skipped?: number;
}

export interface FileRow {
  file: string;
  seconds: number;
  tests: number;
  status: string;
  boots: LabBoot[];
}

const root = join(__dirname, "..", "..");

export interface CpuMark {
  label: string;
  ms: number;
  /** CPU time since boot over all cores, in the kernel's ticks. */
  busy: number;
  total: number;
}

/** cpu.tsv's lines: /proc/stat's `cpu user nice system idle iowait irq softirq steal guest guest_nice`. */
export function readCpu(text: string): CpuMark[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .flatMap((l) => {
      const [label, ms, stat] = l.split("\t");
      const f = (stat ?? "").trim().split(/\s+/).slice(1).map(Number);
      // guest time is counted in user already
      if (f.length < 8 || f.some((n) => !Number.isFinite(n))) return [];
      const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
      return [
        {
          label: label!,
          ms: Number(ms),
          busy: user + nice + system + irq + softirq + steal,
          total: user + nice + system + idle + iowait + irq + softirq + steal,
        },
      ];
    });
}

/**
 * How busy the cores were: over the whole run, and before and after the last host tier ended (from
 * then on only the lab tier runs). Ticks are the kernel's USER_HZ (100 on every Linux build).
 */
export function cpuText(marks: CpuMark[], cores: number, hz = 100): string | undefined {
  const first = marks[0];
  const last = marks[marks.length - 1];
  if (!first || !last || last.total <= first.total) return undefined;
  const part = (a: CpuMark, b: CpuMark) => `${(((b.busy - a.busy) / (b.total - a.total)) * 100).toFixed(0)}%`;
  const hostEnd = [...marks].reverse().find((m) => m.label === "host-tiers");
  const split =
    hostEnd && hostEnd !== last && hostEnd.total > first.total
      ? `; ${part(first, hostEnd)} until the host tiers ended (${secs((hostEnd.ms - first.ms) / 1000)}), ${part(hostEnd, last)} after`
      : "";
  return `CPU: ${cores} cores ${part(first, last)} busy (${((last.busy - first.busy) / hz).toFixed(0)} of ${((last.total - first.total) / hz).toFixed(0)} core-seconds)${split}`;
}

export function readTiers(text: string): TierRun[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [tier, start, end, status] = l.split("\t");
      return { tier: tier!, startMs: Number(start), endMs: Number(end), status: Number(status) };
    });
}

export function readBoots(text: string): LabBoot[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LabBoot];
      } catch {
        return [];
      }
    });
}

export function tierRow(run: TierRun, report: VitestReport | undefined, startMs?: number): TierRow {
  const row: TierRow = {
    tier: run.tier,
    ...(startMs === undefined ? {} : { from: (run.startMs - startMs) / 1000 }),
    seconds: (run.endMs - run.startMs) / 1000,
    status: run.status,
  };
  if (!report) return row;
  return {
    ...row,
    files: report.testResults.length,
    passed: report.numPassedTests,
    failed: report.numFailedTests,
    skipped: report.numPendingTests + report.numTodoTests,
  };
}

export function fileRows(report: VitestReport, boots: LabBoot[], base = root): FileRow[] {
  return report.testResults.map((f) => {
    const file = relative(base, f.name);
    return {
      file,
      seconds: (f.endTime - f.startTime) / 1000,
      tests: f.assertionResults.length,
      status: f.status,
      boots: boots.filter((b) => b.by === file),
    };
  });
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s);
const secs = (s: number) => `${s.toFixed(0)} s`;
const bootText = (bs: LabBoot[]) =>
  bs
    .map((b) =>
      b.saved
        ? `guest saved ${b.seconds.toFixed(0)} s (${b.accel})`
        : `${b.vms} VM${b.vms > 1 ? "s" : ""} ${b.seconds.toFixed(0)} s (${b.accel}${b.restored ? `, ${b.restored === b.vms ? "restored" : `${b.restored} restored`}` : ""})`,
    )
    .join(", ");

export function renderTable(
  tiers: TierRow[],
  labFiles: FileRow[],
  sharedBoots: LabBoot[],
  totalSeconds: number,
  otherBoots: LabBoot[] = [],
  cpu?: string,
): string {
  const out: string[] = ["", "== test time"];
  out.push(
    `${pad("tier", 10)} ${lpad("from", 7)} ${lpad("wall", 8)} ${lpad("files", 6)} ${lpad("passed", 7)} ${lpad("failed", 7)} ${lpad("skipped", 8)}  status`,
  );
  for (const t of tiers) {
    const n = (v: number | undefined) => (v === undefined ? "-" : String(v));
    out.push(
      `${pad(t.tier, 10)} ${lpad(t.from === undefined ? "-" : secs(t.from), 7)} ${lpad(secs(t.seconds), 8)} ${lpad(n(t.files), 6)} ${lpad(n(t.passed), 7)} ${lpad(n(t.failed), 7)} ${lpad(n(t.skipped), 8)}  ${t.status === 0 ? "ok" : `exit ${t.status}`}`,
    );
  }
  out.push(`${pad("all", 10)} ${lpad("", 7)} ${lpad(secs(totalSeconds), 8)}  (from the start of npm test; tiers marked & ran beside the others)`);
  if (cpu) out.push(cpu);
  if (labFiles.length > 0 || sharedBoots.length > 0) {
    out.push("", `${pad("lab file", 40)} ${lpad("wall", 7)} ${lpad("tests", 6)}  VM boots`);
    if (sharedBoots.length > 0) out.push(`${pad("(shared guests, booted once)", 40)} ${lpad("", 7)} ${lpad("", 6)}  ${bootText(sharedBoots)}`);
    for (const f of [...labFiles].sort((a, b) => b.seconds - a.seconds)) {
      out.push(
        `${pad(f.file.replace(/^test\/lab\//, ""), 40)} ${lpad(secs(f.seconds), 7)} ${lpad(String(f.tests), 6)}  ${f.boots.length ? bootText(f.boots) : "shared"}${f.status === "passed" ? "" : `  ${f.status}`}`,
      );
    }
    // boots a test made by calling startLab itself (lab.lab's own), not through useLab
    if (otherBoots.length > 0) out.push(`${pad("(started by tests themselves)", 40)} ${lpad("", 7)} ${lpad("", 6)}  ${bootText(otherBoots)}`);
    const boots = [...sharedBoots, ...labFiles.flatMap((f) => f.boots), ...otherBoots];
    const restored = boots.reduce((n, b) => n + (b.restored ?? 0), 0);
    out.push(
      `VM boots: ${boots.reduce((n, b) => n + b.vms, 0)} VMs in ${boots.length} boots${restored ? ` (${restored} VMs restored from saved guests)` : ""}, ` +
        `${secs(boots.reduce((s, b) => s + b.seconds, 0))} waiting on them`,
    );
  }
  return out.join("\n");
}

function readJson(path: string): VitestReport | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as VitestReport;
  } catch {
    return undefined;
  }
}

function main(dir: string, startMs: number): void {
  const runs = existsSync(join(dir, "tiers.tsv")) ? readTiers(readFileSync(join(dir, "tiers.tsv"), "utf8")) : [];
  const boots = existsSync(join(dir, "lab-boots.jsonl")) ? readBoots(readFileSync(join(dir, "lab-boots.jsonl"), "utf8")) : [];
  const begin = startMs || Math.min(...runs.map((r) => r.startMs));
  const tiers = runs.map((r) => tierRow(r, readJson(join(dir, `${r.tier.replace(/&$/, "")}.json`)), begin));
  // the lab tier's two streams: the files on its shared guests, and the late ones (test.sh)
  const labFiles = ["lab.json", "lab-late.json"].flatMap((f) => {
    const report = readJson(join(dir, f));
    return report ? fileRows(report, boots) : [];
  });
  const total = runs.length > 0 ? (Math.max(...runs.map((r) => r.endMs)) - begin) / 1000 : 0;
  const known = new Set(["shared", ...labFiles.map((f) => f.file)]);
  const cpu = existsSync(join(dir, "cpu.tsv")) ? cpuText(readCpu(readFileSync(join(dir, "cpu.tsv"), "utf8")), availableParallelism()) : undefined;
  console.log(
    renderTable(
      tiers,
      labFiles,
      boots.filter((b) => b.by === "shared"),
      total,
      boots.filter((b) => !known.has(b.by)),
      cpu,
    ),
  );
}

if (require.main === module) {
  const [dir, start] = process.argv.slice(2);
  if (!dir) {
    console.error("usage: test-table DIR [START_MS]");
    process.exit(2);
  }
  main(dir, Number(start ?? 0));
}
