// A line chart of create time per container against N (kslice through the engine, the engine's floor,
// raw runc, podman), written as SVG by hand and turned into PNG by rsvg-convert (librsvg2-bin).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, sh } from "./common";
import type { Summary } from "./report";

interface Series {
  name: string;
  color: string;
  dash?: string;
  get: (m: Summary) => number | undefined;
}

const series: Series[] = [
  { name: "kslice create (engine)", color: "#d62728", get: (m) => m.createPer },
  { name: "kslice create with a Network", color: "#ff7f0e", dash: "6 4", get: (m) => m.netCreatePer },
  { name: "podman run -d --rootfs", color: "#1f77b4", get: (m) => m.podmanPer },
  { name: "engine floor (no-op resource)", color: "#7f7f7f", dash: "2 3", get: (m) => m.floorCreatePer },
  { name: "runc run -d", color: "#2ca02c", get: (m) => m.runcPer },
];

const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A round step that cuts 0..max into 4 to 8 intervals. */
function niceStep(max: number): number {
  const raw = max / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((k) => k * mag).find((x) => x >= raw) ?? 10 * mag;
}

export function chartSvg(sums: Summary[], title: string, subtitle: string): string {
  const W = 900,
    H = 480,
    left = 70,
    right = 270,
    top = 60,
    bottom = 60;
  const pw = W - left - right,
    ph = H - top - bottom;
  const ns = sums.map((m) => m.n);
  const xMax = Math.max(...ns);
  const values = sums.flatMap((m) => series.map((x) => x.get(m)).filter((v): v is number => v !== undefined));
  const step = niceStep(Math.max(1, ...values));
  const yMax = Math.ceil(Math.max(1, ...values) / step) * step;
  const X = (n: number) => left + (n / xMax) * pw;
  const Y = (v: number) => top + ph - (v / yMax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${left}" y="42" fill="#555">${esc(subtitle)}</text>`);
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 8}" y="${Y(v) + 4}" text-anchor="end">${+v.toFixed(1)}</text>`);
  }
  for (const n of ns) {
    out.push(`<line x1="${X(n)}" x2="${X(n)}" y1="${top}" y2="${top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${X(n)}" y="${top + ph + 18}" text-anchor="middle">${n}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${left + pw}" y1="${top + ph}" y2="${top + ph}" stroke="#333"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 18}" text-anchor="middle">N (containers in one stack)</text>`);
  out.push(`<text transform="translate(20 ${top + ph / 2}) rotate(-90)" text-anchor="middle">create time per container (ms)</text>`);
  series.forEach((x, i) => {
    const pts = sums.map((m) => [m.n, x.get(m)] as const).filter((p): p is readonly [number, number] => p[1] !== undefined);
    if (pts.length) {
      const d = pts.map(([n, v]) => `${X(n).toFixed(1)},${Y(v).toFixed(1)}`).join(" ");
      out.push(`<polyline points="${d}" fill="none" stroke="${x.color}" stroke-width="2.5"${x.dash ? ` stroke-dasharray="${x.dash}"` : ""}/>`);
      for (const [n, v] of pts) {
        out.push(`<circle cx="${X(n).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3.5" fill="${x.color}"/>`);
        out.push(`<text x="${(X(n) + 6).toFixed(1)}" y="${(Y(v) - 6).toFixed(1)}" font-size="10" fill="${x.color}">${v.toFixed(0)}</text>`);
      }
    }
    const ly = top + 10 + i * 22;
    const lx = left + pw + 20;
    out.push(`<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${x.color}" stroke-width="2.5"${x.dash ? ` stroke-dasharray="${x.dash}"` : ""}/>`);
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${esc(x.name)}${pts.length ? "" : " (n/a)"}</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n");
}

/** Writes bench/results/<date>-N<a>-<b>….svg and .png; returns their paths (png undefined when rsvg-convert fails). */
export function writeChart(sums: Summary[], date: string, subtitle: string): { svg: string; png?: string; error?: string } {
  const dir = join(repoRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${date}-N${sums.map((m) => m.n).join("-")}`);
  const svg = `${base}.svg`;
  writeFileSync(svg, chartSvg(sums, `kslice: create time per container against N (${date})`, subtitle));
  const r = sh(`rsvg-convert -o '${base}.png' '${svg}'`);
  return r.code === 0 ? { svg, png: `${base}.png` } : { svg, error: `rsvg-convert failed (${r.code}): ${r.err.trim()} (install librsvg2-bin)` };
}
