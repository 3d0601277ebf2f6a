import type { PrefixObserver } from "../provider/kernel/observe/sample";
import { bar, bytes, cores, duration } from "./format";
import { buildView, pressure, type BudgetView, type ContainerView, type PrefixView, type UsageView } from "./model";

type Item = { depth: number; budget?: BudgetView; container?: ContainerView };

/** Budgets as a tree; at every level, the most pressed first (budgets and containers together; a budget counts as its most pressed member). */
export function pressureOrder(view: PrefixView): Item[] {
  const out: Item[] = [];
  const subtree = (b: BudgetView): number =>
    Math.max(
      pressure(b),
      ...view.containers.filter((c) => b.containers.includes(c.name)).map(pressure),
      ...view.budgets.filter((x) => x.parent === b.path).map(subtree),
    );
  const walk = (parent: string | null, depth: number) => {
    type Kid = { p: number; budget?: BudgetView; container?: ContainerView };
    const kids: Kid[] = [
      ...view.budgets.filter((b) => b.parent === parent).map((b): Kid => ({ p: subtree(b), budget: b })),
      ...view.containers
        .filter((c) =>
          parent === null
            ? !c.cgroup || !view.budgets.some((b) => b.containers.includes(c.name))
            : view.budgets.find((b) => b.path === parent)?.containers.includes(c.name),
        )
        .map((c): Kid => ({ p: pressure(c), container: c })),
    ].sort((a, b) => b.p - a.p || (a.budget?.path ?? a.container!.name).localeCompare(b.budget?.path ?? b.container!.name));
    for (const k of kids) {
      out.push({ depth, budget: k.budget, container: k.container });
      if (k.budget) walk(k.budget.path, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

const ratio = (cur: number, max: number | null) => (max ? cur / max : null);

function usageLine(u: UsageView): string {
  const f = u.failures;
  const cpu = u.cpu.percent === null ? "-" : `${u.cpu.percent.toFixed(0)}%`;
  return [
    `mem ${bar(ratio(u.memory.currentBytes, u.memory.maxBytes), 10)} ${`${bytes(u.memory.currentBytes)}/${bytes(u.memory.maxBytes)}`.padEnd(13)}`,
    `cpu ${bar(u.cpu.maxCores && u.cpu.percent !== null ? u.cpu.percent / (u.cpu.maxCores * 100) : null, 10)} ${`${cpu}/${cores(u.cpu.maxCores)}`.padEnd(9)}`,
    `tasks ${bar(ratio(u.pids.current, u.pids.max), 10)} ${`${u.pids.current}/${u.pids.max ?? "max"}`.padEnd(8)}`,
    `oom ${f.oomKills} pids! ${f.pidsMaxHits} thr ${f.cpuThrottledPeriods}`,
  ].join(" ");
}

/** A container's disk image against its limit, "FULL" when seen full (model.ts `diskFull`); "disk -" without a disk limit. */
export function diskCell(c: ContainerView): string {
  const d = c.disk;
  if (!d) return "disk -";
  return `disk ${bar(ratio(d.usedBytes, d.maxBytes), 10)} ${bytes(d.usedBytes)}/${bytes(d.maxBytes)}${d.full ? " FULL" : ""}`;
}

/** One screen of `top`, cut to the terminal's size. */
export function renderTop(view: PrefixView, columns: number, rows: number): string[] {
  const lines = [
    `kslice top — ${view.host} prefix ${view.prefix} — ${view.containers.length} containers, ${view.budgets.length} budgets — ${view.sampledAt} — q quits`,
    "",
  ];
  for (const item of pressureOrder(view)) {
    const indent = "  ".repeat(item.depth);
    if (item.budget) {
      lines.push(`${`${indent}${item.budget.path.split("/").pop()}/`.padEnd(22)} ${"budget".padEnd(14)} ${usageLine(item.budget)}`);
    } else if (item.container) {
      const c = item.container;
      lines.push(`${`${indent}${c.name}`.padEnd(22)} ${`${c.status} ${duration(c.uptimeSeconds)}`.padEnd(14)} ${usageLine(c)} ${diskCell(c)}`);
    }
  }
  return lines.slice(0, Math.max(1, rows - 1)).map((l) => (l.length > columns ? l.slice(0, columns) : l));
}

/** Refreshes in place until q or Ctrl-C; one host command per refresh. */
export async function runTop(obs: PrefixObserver, meta: Parameters<typeof buildView>[0], intervalMs: number): Promise<void> {
  const out = process.stdout;
  const input = process.stdin;
  let done = false;
  let wake: () => void = () => undefined;
  const quit = () => {
    done = true;
    wake();
  };
  const onKey = (d: Buffer) => {
    const k = d.toString();
    if (k === "q" || k === "Q" || k === "\u0003") quit();
  };
  if (input.isTTY) input.setRawMode(true);
  input.on("data", onKey);
  input.resume();
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  out.write("\x1b[?1049h\x1b[?25l"); // alternate screen, hide the cursor
  try {
    const draw = (view: PrefixView) => out.write(`\x1b[H\x1b[2J${renderTop(view, out.columns || 160, out.rows || 50).join("\r\n")}`);
    let prev = await obs.sample();
    draw(buildView(meta, prev));
    while (!done) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, intervalMs);
      });
      if (done) break;
      const cur = await obs.sample();
      draw(buildView(meta, cur, prev));
      prev = cur;
    }
  } finally {
    out.write("\x1b[?25h\x1b[?1049l");
    input.off("data", onKey);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
  }
}
