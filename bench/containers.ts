// Benchmark: N containers through kslice and the real Pulumi engine, against baselines measured in
// the same run (the engine's own floor, raw runc, podman). Prints figures, ratios and the targets of
// issue 12, and with two N or more writes a chart to bench/results/; asserts nothing.
//   node dist/bench/containers.js [N ...] [--parallel P] [--no-podman]   (npm run bench -- …)
// Everything created carries a prefix of its own (kslice-b<random>) and is removed at the end;
// scripts/leaks.sh PREFIX is run last and a leak makes the run fail.
// The parts: args.ts (command line), stack.ts (driving the engine), measure.ts (the phases of one N),
// baselines.ts (raw runc, podman), samplers.ts (memory, CPU), commands.ts (host commands of a preview),
// report.ts (tables, targets, markdown), chart.ts (SVG + PNG).
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "./args";
import { podmanCleanup, podmanLeft, rawCleanup } from "./baselines";
import { writeChart } from "./chart";
import { now, repoRoot, run, s, say, sh } from "./common";
import { reportSyncCost } from "./durability";
import { machineFacts } from "./machine";
import { benchN, type NResult } from "./measure";
import { reportMarkdown, reportN, reportSummary, summarise } from "./report";
import { isSupervisor, procs } from "./samplers";
import { destroyLeftStacks, interruptCurrent, undestroyed, type Ctx } from "./stack";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  const prefix = `kslice-b${randomBytes(3).toString("hex")}`;
  const tmp = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const c: Ctx = { prefix, tmp, backend: join(tmp, "backend"), opts, logs: join(tmp, "logs") };
  mkdirSync(c.backend);
  mkdirSync(c.logs);
  const t0 = now();
  const onSignal = (sig: string) => {
    if (run.aborted) return;
    run.aborted = true;
    say(`\n${sig}: stopping, then cleaning up`);
    interruptCurrent();
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  if (!existsSync(join(repoRoot, "dist/bench/programs/containers/index.js"))) throw new Error("dist/bench not built: run npm run build");
  const git = sh(`git -C ${repoRoot} rev-parse --short HEAD`).out.trim();
  // the checkout is shared: say whether the measured provider differs from the commit
  const dirty = sh(`git -C ${repoRoot} status --porcelain -- provider schema index.ts`).out.trim().split("\n").filter(Boolean).length;
  const podmanVersion = opts.podman ? sh("podman --version 2>&1").out.trim() || "not installed" : "skipped (--no-podman)";
  say(`kslice benchmark — ${new Date().toISOString()}`);
  const facts: [string, string][] = [
    ...machineFacts(),
    ["podman", podmanVersion],
    ["node", process.version],
    ["kslice", `git ${git || "?"}${dirty ? ` + ${dirty} uncommitted file(s) under provider/, schema/ (built as found)` : ""}`],
    ["prefix", prefix],
    ["N", opts.ns.join(", ")],
    ["engine parallel", `${opts.parallel} (--parallel for up/destroy, PULUMI_PARALLEL for preview/refresh)`],
    ["state", `temp file backend under ${tmp}`],
  ];
  for (const [k, v] of facts) say(`${k.padEnd(16)}${v}`);
  say("");
  reportSyncCost(prefix);

  const results: NResult[] = [];
  let failed = false;
  try {
    for (const n of opts.ns) {
      if (run.aborted) break;
      const r = await benchN(c, n);
      results.push(r);
      reportN(c, r);
      if (r.errors.length) {
        failed = true;
        say(`\n   errors at N=${n}:\n   - ${r.errors.join("\n   - ").replace(/\n(?! {3}-)/g, "\n     ")}`);
      }
    }
  } catch (e) {
    failed = true;
    say(`\nbenchmark stopped: ${(e as Error).stack ?? e}`);
  } finally {
    await destroyLeftStacks(c);
    rawCleanup(prefix);
    podmanCleanup(prefix);
  }
  if (results.length) {
    const sums = results.map(summarise);
    reportSummary(c, sums, results.find((r) => r.podman?.version)?.podman?.version ?? podmanVersion);
    const date = new Date().toISOString().slice(0, 10);
    reportMarkdown(sums, `npm run bench -- ${argv.join(" ")}`.trim(), date);
    if (sums.length >= 2) {
      const chart = writeChart(sums, date, `npm run bench -- ${argv.join(" ")} · git ${git} · ${facts.find(([k]) => k === "machine")?.[1] ?? ""}`);
      say(`\nchart: ${chart.svg}${chart.png ? ` and ${chart.png}` : `; PNG not written: ${chart.error}`}`);
    } else {
      say(`\nchart: not written (a line against N needs two N or more, e.g. npm run bench -- 50 200 500)`);
    }
  }

  say(`\n== Leak check: bash scripts/leaks.sh ${prefix}`);
  const leaks = sh(`bash ${join(repoRoot, "scripts/leaks.sh")} ${prefix}`);
  const pod = podmanLeft(prefix);
  const superv = procs().filter(isSupervisor(prefix)).length;
  const leaked = leaks.code !== 0 || !!pod.containers || pod.conmons > 0 || superv > 0 || undestroyed.size > 0;
  say(leaks.out.trim() || "(nothing listed)");
  say(`podman ps -a (bench storage): ${pod.containers || "empty"}; conmon left: ${pod.conmons}; kslice supervisors left: ${superv}`);
  if (leaked) {
    say(`\n!!! LEAK: the run with prefix ${prefix} left the above behind. Removing it with scripts/cleanup.sh; logs kept in ${c.logs}`);
    sh(`bash ${join(repoRoot, "scripts/cleanup.sh")} ${prefix}`, 300_000);
    podmanCleanup(prefix);
    const again = sh(`bash ${join(repoRoot, "scripts/leaks.sh")} ${prefix}`);
    say(`after cleanup.sh: ${again.code === 0 ? "clean" : again.out.trim()}`);
  } else {
    say(`clean: nothing left with prefix ${prefix}`);
  }
  if (failed || leaked) say(`logs of the engine runs kept in ${c.logs}`);
  else rmSync(tmp, { recursive: true, force: true });
  say(`\ntotal wall time ${s(now() - t0)} s; exit ${failed || leaked ? 1 : 0}`);
  return failed || leaked ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
