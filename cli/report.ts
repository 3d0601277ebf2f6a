import { bytes } from "./format";
import type { ContainerView, PrefixView, UsageView } from "./model";

/** One series of a chart: usage over time and its limit (null: none). */
interface Panel {
  title: string;
  values: number[];
  limits: (number | null)[];
  unit: (v: number) => string;
}

export const chartSize = { width: 440, panelHeight: 70, gap: 24 };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A container's panels: a disk panel too when any sample saw its image mounted (a disk limit). */
function panels(series: UsageView[]): Panel[] {
  const disks = series.map((u) => (u as Partial<ContainerView>).disk ?? null);
  const disk: Panel[] = disks.some((d) => d)
    ? [{ title: "disk", values: disks.map((d) => d?.usedBytes ?? 0), limits: disks.map((d) => d?.maxBytes ?? null), unit: bytes }]
    : [];
  return [
    { title: "memory", values: series.map((u) => u.memory.currentBytes), limits: series.map((u) => u.memory.maxBytes), unit: bytes },
    {
      title: "cpu (% of a core)",
      values: series.map((u) => u.cpu.percent ?? 0),
      limits: series.map((u) => (u.cpu.maxCores === null ? null : u.cpu.maxCores * 100)),
      unit: (v) => `${Math.round(v)}%`,
    },
    { title: "tasks", values: series.map((u) => u.pids.current), limits: series.map((u) => u.pids.max), unit: (v) => String(Math.round(v)) },
    ...disk,
  ];
}

/** Members' memory over time, stacked under a budget's own line. */
export interface Stack {
  name: string;
  memory: number[];
}

const palette = ["#90caf9", "#a5d6a7", "#ffcc80", "#ce93d8", "#80cbc4", "#f48fb1"];

/** A small SVG: one panel per resource, usage as a line, the limit dashed in red. */
export function chart(kind: "container" | "budget", name: string, series: UsageView[], seconds: number, stacks: Stack[] = []): string {
  const { width, panelHeight, gap } = chartSize;
  const ps = panels(series);
  const left = 60;
  // a budget's members get a legend line of their own under the chart's title: beside a panel's
  // title it overlapped it as soon as either was long
  const legend = stacks.length ? legendLine(stacks, left, 34, width - 10) : "";
  const head = 20 + (legend ? 18 : 0);
  const height = head + ps.length * (panelHeight + gap);
  const plotWidth = width - left - 10;
  const x = (i: number) => left + (series.length > 1 ? (i / (series.length - 1)) * plotWidth : 0);
  const body = ps.map((p, k) => {
    const top = head + k * (panelHeight + gap) + 14;
    const limits = p.limits.filter((l): l is number => l !== null);
    const scale = Math.max(1, ...p.values, ...limits) * 1.1;
    const y = (v: number) => top + panelHeight - (v / scale) * panelHeight;
    const line = p.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const limitLine = p.limits.some((l) => l !== null)
      ? `<polyline class="limit" fill="none" stroke="#c62828" stroke-dasharray="4 3" points="${p.limits.map((l, i) => `${x(i).toFixed(1)},${y(l ?? 0).toFixed(1)}`).join(" ")}"/>`
      : "";
    const last = p.limits[p.limits.length - 1];
    // a budget's members' memory, stacked: which container uses the budget's memory
    const areas: string[] = [];
    if (k === 0 && stacks.length) {
      let base = p.values.map(() => 0);
      stacks.forEach((st, j) => {
        const upper = base.map((b, i) => b + (st.memory[i] ?? 0));
        const pts = [...upper.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`), ...base.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).reverse()];
        areas.push(
          `<polygon class="stack" data-name="${esc(st.name)}" fill="${palette[j % palette.length]}" fill-opacity="0.8" points="${pts.join(" ")}"><title>${esc(st.name)}</title></polygon>`,
        );
        base = upper;
      });
    }
    return [
      `<text x="${left}" y="${top - 4}" font-size="11">${esc(p.title)}: now ${esc(p.unit(p.values[p.values.length - 1] ?? 0))}, sampled peak ${esc(p.unit(Math.max(0, ...p.values)))}, limit ${last == null ? "none" : esc(p.unit(last))}</text>`,
      `<rect x="${left}" y="${top}" width="${plotWidth}" height="${panelHeight}" fill="#fafafa" stroke="#ccc"/>`,
      `<text x="${left - 4}" y="${top + 10}" font-size="9" text-anchor="end">${esc(p.unit(scale))}</text>`,
      `<text x="${left - 4}" y="${top + panelHeight}" font-size="9" text-anchor="end">0</text>`,
      ...areas,
      limitLine,
      `<polyline class="usage" fill="none" stroke="#1565c0" stroke-width="1.5" points="${line}"/>`,
    ].join("");
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${kind}" data-name="${esc(name)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">` +
    `<text x="4" y="14" font-size="13" font-weight="bold">${esc(kind)} ${esc(name)} — ${series.length} samples over ${seconds.toFixed(0)} s</text>${legend}${body.join("")}</svg>`
  );
}

/** Width of a text in px, over- rather than under-estimated (sans-serif averages about 0.6 em per character). */
export const textWidth = (text: string, fontSize: number) => Math.ceil(text.length * fontSize * 0.62);

/** "stacked:" and a swatch and name per member, on one line from x to maxX; what does not fit is counted ("+2 more"). */
function legendLine(stacks: Stack[], x: number, y: number, maxX: number): string {
  const size = 9;
  const parts = [`<text x="${x}" y="${y}" font-size="${size}">stacked:</text>`];
  let at = x + textWidth("stacked:", size) + 6;
  for (const [j, st] of stacks.entries()) {
    const w = 12 + textWidth(st.name, size) + 8;
    const more = `+${stacks.length - j} more`;
    if (at + w > maxX - (j < stacks.length - 1 ? textWidth(more, size) : 0)) {
      parts.push(`<text x="${at}" y="${y}" font-size="${size}">${more}</text>`);
      break;
    }
    parts.push(
      `<rect x="${at}" y="${y - 8}" width="9" height="9" fill="${palette[j % palette.length]}"/>`,
      `<text x="${at + 12}" y="${y}" font-size="${size}">${esc(st.name)}</text>`,
    );
    at += w;
  }
  return parts.join("");
}

/** Every container's and budget's usage over the window, by name; views must be consecutive samples. */
export function charts(views: PrefixView[]): string[] {
  const last = views[views.length - 1];
  if (!last) return [];
  const seconds = views.length > 1 ? (Date.parse(last.sampledAt) - Date.parse(views[0]!.sampledAt)) / 1000 : 0;
  const out: string[] = [];
  for (const b of last.budgets) {
    const stacks = b.containers.map((n) => ({ name: n, memory: views.map((v) => v.containers.find((c) => c.name === n)?.memory.currentBytes ?? 0) }));
    out.push(
      chart(
        "budget",
        b.path,
        views.map((v) => v.budgets.find((x) => x.path === b.path) ?? b),
        seconds,
        stacks,
      ),
    );
  }
  for (const c of last.containers) {
    out.push(
      chart(
        "container",
        c.name,
        views.map((v) => v.containers.find((x) => x.name === c.name) ?? c),
        seconds,
      ),
    );
  }
  return out;
}

export function reportHtml(views: PrefixView[]): string {
  const last = views[views.length - 1]!;
  return [
    "<!doctype html>",
    `<html><head><meta charset="utf-8"><title>kslice report — ${esc(last.host)} ${esc(last.prefix)}</title>`,
    "<style>body{font-family:sans-serif;margin:16px} .charts{display:flex;flex-wrap:wrap;gap:12px} svg{border:1px solid #ddd}</style></head><body>",
    `<h1>kslice report — ${esc(last.host)}, prefix ${esc(last.prefix)}</h1>`,
    `<p>${views.length} samples from ${esc(views[0]!.sampledAt)} to ${esc(last.sampledAt)} (host clock), cgroup v${last.cgroupVersion}, ${esc(last.runtime)}. Blue: usage; dashed red: the limit.</p>`,
    `<div class="charts">${charts(views).join("\n")}</div>`,
    "</body></html>",
  ].join("\n");
}

/** All charts in one SVG, stacked in two columns under the report's own title (what the HTML's heading says). */
export function reportSvg(views: PrefixView[]): string {
  const parts = charts(views);
  const last = views[views.length - 1]!;
  const cols = 2;
  const { width } = chartSize;
  const heights = parts.map((p) => Number(/height="(\d+)"/.exec(p)?.[1] ?? 0));
  const rowHeight = Math.max(0, ...heights) + 10;
  const header = 44;
  const total = { width: cols * (width + 10), height: header + Math.ceil(parts.length / cols) * rowHeight };
  const title =
    `<text x="4" y="18" font-size="15" font-weight="bold">kslice report — ${esc(last.host)}, prefix ${esc(last.prefix)}</text>` +
    `<text x="4" y="34" font-size="10">${views.length} samples from ${esc(views[0]!.sampledAt)} to ${esc(last.sampledAt)} (host clock), cgroup v${last.cgroupVersion}, ${esc(last.runtime)}; blue: usage, dashed red: the limit</text>`;
  const placed = parts.map((p, i) => p.replace("<svg ", `<svg x="${(i % cols) * (width + 10)}" y="${header + Math.floor(i / cols) * rowHeight}" `));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total.width}" height="${total.height}" viewBox="0 0 ${total.width} ${total.height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${title}${placed.join("")}</svg>\n`;
}
