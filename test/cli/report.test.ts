import { describe, expect, it } from "vitest";
import type { ContainerView, PrefixView, UsageView } from "../../cli/model";
import { reportSvg, textWidth } from "../../cli/report";

const usage = (mem: number): UsageView => ({
  memory: { currentBytes: mem, peakBytes: mem, maxBytes: 128 * 2 ** 20, highBytes: null },
  cpu: { usageNs: 0, percent: 12.5, maxCores: 1 },
  pids: { current: 3, max: 100 },
  failures: { oomKills: 0, pidsMaxHits: 0, memoryHighEvents: null, memoryMaxEvents: 0, cpuThrottledPeriods: 0, cpuThrottledUs: 0 },
});
const members = ["web-frontend-1", "web-frontend-2", "worker-with-a-long-name", "cache", "queue", "mailer", "search-indexer"];
const view = (i: number): PrefixView => ({
  host: "local",
  prefix: "demo",
  cgroupVersion: 2,
  runtime: "crun",
  sampledAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  intervalSeconds: 1,
  drainingStacks: [],
  draining: false,
  containers: members.map((name, j): ContainerView => ({
    name,
    cgroup: `tenant-a/${name}`,
    status: "running",
    pid: 10 + j,
    createdAt: null,
    uptimeSeconds: i,
    addresses: {},
    ports: [],
    owner: null,
    stack: null,
    restarts: 0,
    damaged: [],
    disk: null,
    ingressDrops: null,
    lastMigration: null,
    ...usage((10 + i + j) * 2 ** 20),
  })),
  budgets: [{ path: "tenant-a", parent: null, containers: members, ...usage(100 * 2 ** 20) }],
  networks: [],
});

interface Box {
  text: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Every <text> of the report with its box on the page: nested charts' x/y added, width estimated as wide as a sans-serif could be. */
function textBoxes(svg: string): Box[] {
  const boxes: Box[] = [];
  let dx = 0;
  let dy = 0;
  for (const m of svg.matchAll(/<svg ([^>]*)>|<\/svg>|<text ([^>]*)>([^<]*)<\/text>/g)) {
    if (m[0].startsWith("</svg")) [dx, dy] = [0, 0];
    else if (m[1] !== undefined) {
      dx = Number(/\bx="([\d.]+)"/.exec(m[1])?.[1] ?? 0);
      dy = Number(/\by="([\d.]+)"/.exec(m[1])?.[1] ?? 0);
    } else {
      const a = m[2]!;
      const num = (k: string) => Number(new RegExp(`\\b${k}="([\\d.]+)"`).exec(a)?.[1]);
      const size = num("font-size");
      const w = textWidth(m[3]!, size);
      const x = dx + num("x");
      const x0 = a.includes('text-anchor="end"') ? x - w : x;
      const y = dy + num("y");
      boxes.push({ text: m[3]!, x0, x1: x0 + w, y0: y - size * 0.8, y1: y + size * 0.2 });
    }
  }
  return boxes;
}

describe("kslice report as one SVG (and PNG)", () => {
  const svg = reportSvg([0, 1, 2, 3].map(view));

  it("opens with the report's title: host, prefix, samples", () => {
    expect(svg).toMatch(/<text [^>]*>kslice report — local, prefix demo<\/text>/);
    expect(svg).toContain("4 samples from 2026-01-01T00:00:00.000Z to 2026-01-01T00:00:03.000Z");
  });

  it("no text overlaps another: titles, panel labels, a budget's legend of its members", () => {
    const boxes = textBoxes(svg);
    expect(boxes.length).toBeGreaterThan(members.length * 10);
    const overlaps = boxes.flatMap((a, i) =>
      boxes
        .slice(i + 1)
        .filter((b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1)
        .map((b) => `"${a.text}" / "${b.text}"`),
    );
    expect(overlaps).toEqual([]);
  });

  it("names every member of a budget in its legend or counts those that did not fit", () => {
    const legend = textBoxes(svg)
      .filter((b) => b.y0 < 60 + 44 && b.x0 < 450)
      .map((b) => b.text);
    const shown = members.filter((m) => legend.includes(m));
    const more = Number(/^\+(\d+) more$/.exec(legend.find((t) => t.endsWith(" more")) ?? "")?.[1] ?? 0);
    expect(shown.length).toBeGreaterThan(1);
    expect(shown.length + more).toBe(members.length);
  });

  it("a container with a disk limit gets a disk panel (usage against its image's size); one without gets none", () => {
    const v = view(0);
    const [a, b] = v.containers;
    a!.disk = { usedBytes: 20 * 2 ** 20, maxBytes: 60 * 2 ** 20, availBytes: 40 * 2 ** 20, inodesUsed: 10, inodes: 1000, inodesFree: 990, full: false };
    const svg = reportSvg([v]);
    const chartOf = (name: string) => {
      const s = svg.slice(svg.indexOf(`class="chart container" data-name="${name}"`));
      return s.slice(0, s.indexOf("</svg>"));
    };
    expect(chartOf(a!.name)).toMatch(/disk: now 20Mi, sampled peak 20Mi, limit 60Mi/);
    expect(chartOf(b!.name)).not.toMatch(/disk:/);
  });
});
