import { count, keyed, pageAligned, trim, type ControllerMapping, type Setting } from "../settings";

const fields = [
  ["max", "memory.max", "max"],
  ["high", "memory.high", "max"],
  ["low", "memory.low", "0"],
  ["swapMax", "memory.swap.max", "max"],
] as const;

const s = (key: string, file: string, value: string): Setting => ({ key: `memory.${key}`, controller: "memory", file, value });

export const memory: ControllerMapping = {
  files: fields.map(([, file]) => ({ controller: "memory", file })),
  plan(l) {
    return fields.flatMap(([k, file]) => (l.memory?.[k] !== undefined ? [s(k, file, String(l.memory[k]))] : []));
  },
  reset(l) {
    return fields.flatMap(([k, file, dflt]) => (l.memory?.[k] !== undefined ? [s(k, file, dflt)] : []));
  },
  normalize: (_s, raw) => {
    const v = trim(raw);
    return /^\d+$/.test(v) ? pageAligned(Number(v)) : v;
  },
  observe(files) {
    const m: Record<string, number | "max"> = {};
    for (const [k, file] of fields) {
      const raw = trim(files[`memory/${file}`]);
      if (raw) m[k] = raw === "max" ? "max" : Number(raw);
    }
    return { memory: m };
  },
  unsupported(l, features) {
    return l.memory?.swapMax !== undefined && !features.has("v2-swap")
      ? [{ key: "memory.swapMax", reason: "this host's kernel has no swap accounting (memory.swap.max is missing)" }]
      : [];
  },
  // memory.peak is new in 5.19: missing before, counted 0
  usage: {
    files: ["memory.current", "memory.peak", "memory.events"].map((file) => ({ controller: "memory", file })),
    read: (f) => ({
      memoryCurrentBytes: count(f["memory/memory.current"]),
      memoryPeakBytes: count(f["memory/memory.peak"]),
      oomKills: keyed(f["memory/memory.events"], "oom_kill"),
    }),
  },
  counters: {
    files: [{ controller: "memory", file: "memory.events" }],
    read: (f) => ({
      oomKills: keyed(f["memory/memory.events"], "oom_kill"),
      memoryHighEvents: keyed(f["memory/memory.events"], "high"),
      memoryMaxEvents: keyed(f["memory/memory.events"], "max"),
    }),
  },
};
