/** Human units for screens: binary sizes, short durations, aligned columns. */

export function bytes(n: number | null): string {
  if (n === null) return "max";
  const units = ["B", "Ki", "Mi", "Gi", "Ti"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, "")}${units[i]}`;
}

export function duration(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

export function cores(n: number | null): string {
  return n === null ? "max" : `${n}`;
}

/** Left-aligned columns separated by two spaces; numbers can be right-aligned with `right`. */
export function table(rows: string[][], right: Set<number> = new Set()): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** A bar of `width` cells filled to ratio (clamped), e.g. "[#####.....]". */
export function bar(ratio: number | null, width: number): string {
  if (ratio === null) return `[${" ".repeat(width)}]`;
  const full = Math.max(0, Math.min(width, Math.round(ratio * width)));
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}
