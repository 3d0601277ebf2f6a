import { coresToQuota, quotaToCores, sharesToWeight, weightToShares } from "../convert";
import { count, keyed, trim, type ControllerMapping } from "../settings";

const s = (key: string, file: string, value: string) => ({ key, controller: "cpu", file, value });

export const cpu: ControllerMapping = {
  files: ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"].map((file) => ({ controller: "cpu", file })),
  plan(l, ctx) {
    const out = [];
    if (l.cpu?.weight !== undefined) out.push(s("cpu.weight", "cpu.shares", String(weightToShares(l.cpu.weight))));
    if (l.cpu?.max !== undefined) {
      out.push(s("cpu.max", "cpu.cfs_period_us", String(ctx.periodUs)));
      out.push(s("cpu.max", "cpu.cfs_quota_us", l.cpu.max === "max" ? "-1" : String(coresToQuota(l.cpu.max, ctx.periodUs))));
    }
    return out;
  },
  reset(l) {
    return [
      ...(l.cpu?.weight !== undefined ? [s("cpu.weight", "cpu.shares", "1024")] : []),
      ...(l.cpu?.max !== undefined ? [s("cpu.max", "cpu.cfs_quota_us", "-1")] : []),
    ];
  },
  normalize: (_s, raw) => trim(raw),
  observe(files) {
    const shares = Number(trim(files["cpu/cpu.shares"]));
    const quota = Number(trim(files["cpu/cpu.cfs_quota_us"]));
    const period = Number(trim(files["cpu/cpu.cfs_period_us"]));
    return {
      cpu: {
        ...(shares ? { weight: sharesToWeight(shares) } : {}),
        ...(period ? { max: quota < 0 ? "max" : quotaToCores(quota, period) } : {}),
      },
    };
  },
  unsupported: () => [],
  // v1 accounts CPU time in its own controller, cpuacct (in ns)
  usage: { files: [{ controller: "cpuacct", file: "cpuacct.usage" }], read: (f) => ({ cpuUsageNs: count(f["cpuacct/cpuacct.usage"]) }) },
  counters: {
    files: [{ controller: "cpu", file: "cpu.stat" }],
    // throttled_time is in ns, the counter in µs
    read: (f) => ({
      cpuThrottledPeriods: keyed(f["cpu/cpu.stat"], "nr_throttled"),
      cpuThrottledUs: Math.round(keyed(f["cpu/cpu.stat"], "throttled_time") / 1000),
    }),
  },
};
