import { memswLimit, parseV1Bytes, swapFromMemsw } from "../convert";
import { count, keyed, pageAligned, trim, type ControllerMapping, type Setting } from "../settings";

const s = (key: string, file: string, value: string): Setting => ({ key, controller: "memory", file, value });
const bytes = (v: number | "max") => (v === "max" ? "-1" : String(v));

export const memory: ControllerMapping = {
  files: ["memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes"].map((file) => ({
    controller: "memory",
    file,
  })),
  plan(l) {
    const m = l.memory;
    if (!m) return [];
    return [
      ...(m.max !== undefined ? [s("memory.max", "memory.limit_in_bytes", bytes(m.max))] : []),
      ...(m.low !== undefined ? [s("memory.low", "memory.soft_limit_in_bytes", bytes(m.low))] : []),
      // v1 limits memory+swap together (checked: swapMax needs memory.max here).
      ...(m.swapMax !== undefined && m.max !== undefined ? [s("memory.swapMax", "memory.memsw.limit_in_bytes", bytes(memswLimit(m.max, m.swapMax)))] : []),
    ];
  },
  reset(l) {
    const m = l.memory;
    if (!m) return [];
    return [
      ...(m.swapMax !== undefined ? [s("memory.swapMax", "memory.memsw.limit_in_bytes", "-1")] : []),
      ...(m.max !== undefined ? [s("memory.max", "memory.limit_in_bytes", "-1")] : []),
      ...(m.low !== undefined ? [s("memory.low", "memory.soft_limit_in_bytes", "-1")] : []),
    ];
  },
  normalize: (_s, raw) => pageAligned(parseV1Bytes(trim(raw) || "-1")),
  observe(files) {
    const max = parseV1Bytes(trim(files["memory/memory.limit_in_bytes"]) || "-1");
    const soft = parseV1Bytes(trim(files["memory/memory.soft_limit_in_bytes"]) || "-1");
    const memsw = files["memory/memory.memsw.limit_in_bytes"];
    return {
      memory: {
        max,
        ...(soft !== "max" ? { low: soft } : {}),
        ...(memsw !== undefined ? { swapMax: swapFromMemsw(parseV1Bytes(trim(memsw) || "-1"), max) } : {}),
      },
    };
  },
  unsupported(l, features) {
    const out = [];
    if (l.memory?.high !== undefined) {
      out.push({ key: "memory.high", reason: "cgroup v1 has no memory.high (throttling threshold); use memory.max, or a cgroup v2 host" });
    }
    if (l.memory?.swapMax !== undefined) {
      if (!features.has("v1-memsw")) {
        out.push({
          key: "memory.swapMax",
          reason: "this host's v1 memory controller has no swap accounting (memory.memsw.limit_in_bytes is missing; boot with swapaccount=1)",
        });
      } else if (l.memory.max === undefined) {
        out.push({ key: "memory.swapMax", reason: "cgroup v1 limits memory and swap together (memsw = max + swap): set memory.max too" });
      }
    }
    return out;
  },
  usage: {
    files: ["memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.oom_control"].map((file) => ({ controller: "memory", file })),
    read: (f) => ({
      memoryCurrentBytes: count(f["memory/memory.usage_in_bytes"]),
      memoryPeakBytes: count(f["memory/memory.max_usage_in_bytes"]),
      oomKills: keyed(f["memory/memory.oom_control"], "oom_kill"),
    }),
  },
  counters: {
    files: ["memory.oom_control", "memory.failcnt"].map((file) => ({ controller: "memory", file })),
    read: (f) => ({
      oomKills: keyed(f["memory/memory.oom_control"], "oom_kill"),
      // v1 has no memory.high, so no events of it
      memoryHighEvents: null,
      // failcnt: times usage hit memory.limit_in_bytes
      memoryMaxEvents: count(f["memory/memory.failcnt"]),
    }),
  },
};
