// The dashboard's page with many containers (issue 30): a synthesized host of N containers in
// budgets of 50 fed through the same server code path as a real host (cli/dashboard.ts Dashboard,
// a HostSource instead of the observer), five minutes of chart history filled first, read by
// headless Chromium. Measures the first render (the init message: every row and the visible
// charts) and each one-second update: the page's script time (performance.now around its update)
// and the time to the frame after it (layout and paint), plus long tasks (PerformanceObserver).
// Asserts nothing.
//   npm run bench:dashboard [-- N [SECONDS]]     (N default 500, SECONDS default 30)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Dashboard, historyPoints, type HostReading, type HostSource } from "../cli/dashboard";
import type { BudgetView, ContainerView, PrefixView, UsageView } from "../cli/model";
import { median, ms1, progress } from "./common";

const MiB = 2 ** 20;

function usage(i: number, tick: number, memMax: number | null): UsageView {
  const wave = (Math.sin((tick + i * 7) / 9) + 1) / 2;
  return {
    memory: { currentBytes: Math.round((memMax ?? 512 * MiB) * (0.2 + 0.6 * wave)), peakBytes: 0, maxBytes: memMax, highBytes: null },
    cpu: { usageNs: tick * 1e8, percent: Math.round(wave * 500) / 10, maxCores: 0.5 },
    pids: { current: 3 + (i % 5), max: 64 },
    failures: {
      oomKills: i % 97 === 0 ? Math.floor(tick / 60) : 0,
      pidsMaxHits: 0,
      memoryHighEvents: null,
      memoryMaxEvents: 0,
      cpuThrottledPeriods: tick,
      cpuThrottledUs: 0,
    },
  };
}

/** A host of n containers whose usage moves every read; one clock second per read. */
class SyntheticHost implements HostSource {
  readonly label = "synthetic";
  readonly prefix = "kslice";
  private tick = 0;
  constructor(private readonly n: number) {}

  read(): Promise<HostReading> {
    const tick = this.tick++;
    const start = Date.parse("2026-12-06T00:00:00Z");
    const containers: ContainerView[] = [];
    const budgets: BudgetView[] = [];
    for (let b = 0; b * 50 < this.n; b++) {
      const path = `tenant-${b}`;
      const names = Array.from({ length: Math.min(50, this.n - b * 50) }, (_, k) => `c${b * 50 + k}`);
      budgets.push({ path, parent: null, containers: names, ...usage(b, tick, 4096 * MiB) });
      names.forEach((name, k) => {
        const i = b * 50 + k;
        containers.push({
          name,
          cgroup: `${path}/${name}`,
          status: "running",
          pid: 1000 + i,
          createdAt: null,
          uptimeSeconds: 3600 + tick,
          addresses: { net: `10.${b}.0.${k + 2}` },
          ports: [],
          owner: null,
          stack: null,
          restarts: 0,
          damaged: [],
          disk: null,
          ingressDrops: null,
          lastMigration: null,
          ...usage(i, tick, 256 * MiB),
        });
      });
    }
    const view: PrefixView = {
      host: "synthetic",
      prefix: "kslice",
      cgroupVersion: 2,
      runtime: "crun",
      sampledAt: new Date(start + tick * 1000).toISOString(),
      intervalSeconds: 1,
      drainingStacks: [],
      draining: false,
      containers,
      budgets,
      networks: [],
    };
    return Promise.resolve({
      ok: true,
      view,
      facts: { kernel: "6.1.0", hostname: "synthetic", cgroupVersion: 2, runtime: "crun", cpus: 64, memoryBytes: 256 * 1024 * MiB, disk: null },
    });
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 500);
  const seconds = Number(process.argv[3] ?? 30);
  const board = new Dashboard({ host: "127.0.0.1", port: 0, intervalMs: 1000, sources: [new SyntheticHost(n)] });
  // five minutes of history first, so that the first render draws full charts
  for (let i = 0; i < historyPoints; i++) await board.tick();
  const url = await board.start();
  const profile = mkdtempSync(join(tmpdir(), "kslice-bench-dash-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    // the page's CSP allows no eval; the bench's own probes are strings
    bypassCSP: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    // page code as strings: this project compiles without the DOM's types
    await page.addInitScript(
      `window.kslLong = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.kslLong.push(e.duration); }).observe({ type: "longtask", buffered: true });`,
    );
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForFunction("window.kslDashboard && window.kslDashboard.frameMs.length >= 1", undefined, { timeout: 60_000 });
    const firstWall = Date.now() - t0;
    const rows = await page.locator("tbody tr").count();
    const canvases = await page.locator(".chart canvas").count();
    progress(`page open: ${rows} rows, ${canvases} charts drawn; watching ${seconds} s of updates`);
    const longBefore = await page.evaluate<number>("window.kslLong.length");
    await page.waitForTimeout(seconds * 1000);
    const t = await page.evaluate<{ script: number[]; frame: number[]; long: number[] }>(
      "({ script: window.kslDashboard.scriptMs, frame: window.kslDashboard.frameMs, long: window.kslLong })",
    );
    // scroll through every row: charts are drawn as they come on screen
    const scrollT = Date.now();
    await page.evaluate(`(async () => {
      for (let y = 0; y < document.body.scrollHeight; y += 800) {
        window.scrollTo(0, y);
        await new Promise((r) => requestAnimationFrame(() => r(null)));
      }
    })()`);
    const scrollMs = Date.now() - scrollT;
    const drawn = await page.locator(".chart canvas").count();
    const script = t.script.slice(1);
    const frame = t.frame.slice(1);
    const long = t.long.slice(longBefore);
    const lines = [
      `containers ${n} (+${Math.ceil(n / 50)} budgets), rows on the page ${rows}, history ${historyPoints} points per chart`,
      `first render (navigation to the frame after the init message): ${firstWall} ms wall; init script ${ms1(t.script[0]!)} ms, to its next frame ${ms1(t.frame[0]!)} ms; ${canvases} charts drawn (rows on screen)`,
      `updates: ${script.length} in ${seconds} s; script median ${ms1(median(script)!)} ms, p95 ${ms1(pct(script, 0.95))} ms, max ${ms1(Math.max(...script))} ms; to next frame median ${ms1(median(frame)!)} ms, p95 ${ms1(pct(frame, 0.95))} ms, max ${ms1(Math.max(...frame))} ms`,
      `long tasks (>50 ms) while updating: ${long.length}${long.length ? `, longest ${ms1(Math.max(...long))} ms` : ""}`,
      `scrolling through every row (one frame per 800 px): ${scrollMs} ms, then ${drawn} charts drawn`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await browser.close();
    await board.stop();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
