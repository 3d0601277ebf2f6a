import { coresToQuota, quotaToCores } from "../convert";
import { keyed, trim, type ControllerMapping } from "../settings";

const s = (key: string, file: string, value: string) => ({ key, controller: "cpu", file, value });

export const cpu: ControllerMapping = {
  files: [
    { controller: "cpu", file: "cpu.weight" },
    { controller: "cpu", file: "cpu.max" },
  ],
  plan(l, ctx) {
    const out = [];
    if (l.cpu?.weight !== undefined) out.push(s("cpu.weight", "cpu.weight", String(l.cpu.weight)));
    if (l.cpu?.max !== undefined) {
      const quota = l.cpu.max === "max" ? "max" : String(coresToQuota(l.cpu.max, ctx.periodUs));
      out.push(s("cpu.max", "cpu.max", `${quota} ${ctx.periodUs}`));
    }
    return out;
  },
  reset(l, ctx) {
    return [
      ...(l.cpu?.weight !== undefined ? [s("cpu.weight", "cpu.weight", "100")] : []),
      ...(l.cpu?.max !== undefined ? [s("cpu.max", "cpu.max", `max ${ctx.periodUs}`)] : []),
    ];
  },
  normalize: (_s, raw) => trim(raw),
  observe(files) {
    const weight = Number(trim(files["cpu/cpu.weight"]));
    const [quota, period] = trim(files["cpu/cpu.max"]).split(" ");
    return {
      cpu: {
        ...(weight ? { weight } : {}),
        ...(quota ? { max: quota === "max" ? "max" : quotaToCores(Number(quota), Number(period)) } : {}),
      },
    };
  },
  unsupported: () => [],
  usage: { files: [{ controller: "cpu", file: "cpu.stat" }], read: (f) => ({ cpuUsageNs: keyed(f["cpu/cpu.stat"], "usage_usec") * 1000 }) },
  counters: {
    files: [{ controller: "cpu", file: "cpu.stat" }],
    read: (f) => ({ cpuThrottledPeriods: keyed(f["cpu/cpu.stat"], "nr_throttled"), cpuThrottledUs: keyed(f["cpu/cpu.stat"], "throttled_usec") }),
  },
};
