import { count, keyed, trim, type ControllerMapping } from "./settings";

// pids.max is the same file with the same values in v1 and v2; 0 is a valid limit (no new tasks).
export const pids: ControllerMapping = {
  files: [{ controller: "pids", file: "pids.max" }],
  plan: (l) => (l.pids?.max !== undefined ? [{ key: "pids.max", controller: "pids", file: "pids.max", value: String(l.pids.max) }] : []),
  reset: (l) => (l.pids?.max !== undefined ? [{ key: "pids.max", controller: "pids", file: "pids.max", value: "max" }] : []),
  normalize: (_s, raw) => trim(raw),
  observe(files) {
    const raw = trim(files["pids/pids.max"]);
    return { pids: raw ? { max: raw === "max" ? "max" : Number(raw) } : {} };
  },
  unsupported: () => [],
  usage: { files: [{ controller: "pids", file: "pids.current" }], read: (f) => ({ pidsCurrent: count(f["pids/pids.current"]) }) },
  // forks refused at pids.max
  counters: { files: [{ controller: "pids", file: "pids.events" }], read: (f) => ({ pidsMaxHits: keyed(f["pids/pids.events"], "max") }) },
};
