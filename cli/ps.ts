import { bytes, cores, duration, table } from "./format";
import type { BudgetView, ContainerView, PrefixView, UsageView } from "./model";

const pct = (p: number | null) => (p === null ? "-" : `${p.toFixed(1)}%`);

function usageCells(u: UsageView): string[] {
  const f = u.failures;
  return [
    `${bytes(u.memory.currentBytes)}/${bytes(u.memory.maxBytes)}`,
    bytes(u.memory.peakBytes),
    `${pct(u.cpu.percent)}/${cores(u.cpu.maxCores)}`,
    `${u.pids.current}/${u.pids.max ?? "max"}`,
    String(f.oomKills),
    String(f.pidsMaxHits),
    f.memoryHighEvents === null ? String(f.memoryMaxEvents) : `${f.memoryHighEvents}/${f.memoryMaxEvents}`,
    String(f.cpuThrottledPeriods),
  ];
}

const usageHeads = ["MEM/MAX", "PEAK", "CPU/MAX", "TASKS/MAX", "OOM", "PIDSMAX", "MEMHIT", "THROTTLED"];

/** Budgets as a tree, each followed by the containers inside it. */
export function treeOrder(view: PrefixView): { depth: number; budget?: BudgetView; container?: ContainerView }[] {
  const out: { depth: number; budget?: BudgetView; container?: ContainerView }[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const b of view.budgets.filter((x) => x.parent === parent)) {
      out.push({ depth, budget: b });
      walk(b.path, depth + 1);
      for (const c of view.containers.filter((x) => b.containers.includes(x.name))) out.push({ depth: depth + 1, container: c });
    }
  };
  walk(null, 0);
  const placed = new Set(out.flatMap((r) => (r.container ? [r.container.name] : [])));
  for (const c of view.containers.filter((x) => !placed.has(x.name))) out.push({ depth: 0, container: c });
  return out;
}

/** The `ps` screen: containers in their budgets (a tree), then networks. */
export function renderPs(view: PrefixView): string {
  const rows: string[][] = [["NAME", "KIND", "STATUS", "PID", "ADDRESS", "PORTS", "STACK", "UPTIME", ...usageHeads, "DISK/MAX", "RESTARTS"]];
  for (const r of treeOrder(view)) {
    const indent = "  ".repeat(r.depth);
    if (r.budget) {
      const b = r.budget;
      rows.push([`${indent}${b.path.split("/").pop()}/`, "budget", "-", "-", "-", "-", "-", "-", ...usageCells(b), "-", "-"]);
    } else if (r.container) {
      const c = r.container;
      const address = Object.values(c.addresses).join(",") || "-";
      rows.push([
        `${indent}${c.name}`,
        "container",
        c.status,
        c.pid ? String(c.pid) : "-",
        address,
        c.ports.join(",") || "-",
        c.stack ?? "-",
        duration(c.uptimeSeconds),
        ...usageCells(c),
        c.disk ? `${bytes(c.disk.usedBytes)}/${bytes(c.disk.maxBytes)}${c.disk.full ? " FULL" : ""}` : "-",
        String(c.restarts),
      ]);
    }
  }
  const out = [table(rows)];
  if (view.networks.length) {
    const nets: string[][] = [["NETWORK", "BRIDGE", "SUBNET", "GATEWAY", "CONTAINERS"]];
    for (const n of view.networks) {
      nets.push([
        n.name,
        n.bridge,
        n.subnet,
        n.gateway,
        Object.entries(n.addresses)
          .map(([c, ip]) => `${c}=${ip}`)
          .join(" ") || "-",
      ]);
    }
    out.push("", table(nets));
  }
  out.push(
    "",
    `${view.host} prefix ${view.prefix}${view.draining ? ` DRAINING (Host of ${view.drainingStacks.join(", ")})` : ""}, cgroup v${view.cgroupVersion}, ${view.runtime}; CPU % of one core over ${view.intervalSeconds ?? "-"} s; ` +
      `MEMHIT: ${view.cgroupVersion === 2 ? "memory.events high/max" : "memory.failcnt"}`,
  );
  return out.join("\n");
}
