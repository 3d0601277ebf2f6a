import { describe, expect, it } from "vitest";
import { parseInput } from "../../../../schema/issues";
import { limits as limitsSchema, type Limits } from "../../../../schema/limits";
import { v1Mappings } from "../../../../provider/kernel/cgroup/v1/index";
import { v2Mappings } from "../../../../provider/kernel/cgroup/v2/index";
import { fileKey, type ControllerMapping, type Files, type PlanContext } from "../../../../provider/kernel/cgroup/settings";

const ctx: PlanContext = { periodUs: 100000, devices: { "/dev/vda": "254:0" } };
const L = (input: object): Limits => {
  const r = parseInput(limitsSchema, input);
  if (!r.ok) throw new Error(JSON.stringify(r.failures));
  return r.value;
};
const writes = (ms: ControllerMapping[], l: Limits) => ms.flatMap((m) => m.plan(l, ctx)).map((s) => [fileKey(s), s.value]);

// A fake cgroupfs: the files a plan writes, as the kernel would show them back.
function fakeKernel(ms: ControllerMapping[], l: Limits, overrides: Files = {}): Files {
  const files: Files = {};
  for (const s of ms.flatMap((m) => m.plan(l, ctx))) files[fileKey(s)] = s.entry ? `${files[fileKey(s)] ?? ""}${s.value}\n` : s.value;
  return { ...files, ...overrides };
}

const all = L({
  cpu: { weight: 100, max: 1.5, cpuset: { cpus: "0-1" } },
  memory: { max: "256Mi", high: "200Mi", low: "64Mi", swapMax: "1Gi" },
  pids: { max: 0 },
  io: { weight: 100, devices: [{ device: "/dev/vda", readBps: "10Mi", writeIops: 100 }] },
});

describe("v2 mapping", () => {
  it("turns limits into v2 file writes", () => {
    expect(writes(v2Mappings, all)).toEqual([
      ["cpuset/cpuset.cpus", "0-1"],
      ["cpu/cpu.weight", "100"],
      ["cpu/cpu.max", "150000 100000"],
      ["memory/memory.max", "268435456"],
      ["memory/memory.high", "209715200"],
      ["memory/memory.low", "67108864"],
      ["memory/memory.swap.max", "1073741824"],
      ["pids/pids.max", "0"],
      ["io/io.weight", "default 100"],
      ["io/io.max", "254:0 rbps=10485760 wbps=max riops=max wiops=100"],
    ]);
  });

  it("writes nothing for unset fields", () => {
    expect(writes(v2Mappings, L({ memory: { max: "1Gi" } }))).toEqual([["memory/memory.max", "1073741824"]]);
  });

  it("observes what it wrote, in the v2 vocabulary", () => {
    const files = fakeKernel(v2Mappings, all);
    const seen = Object.assign({}, ...v2Mappings.map((m) => m.observe(files, ctx)));
    expect(seen.memory).toEqual({ max: 268435456, high: 209715200, low: 67108864, swapMax: 1073741824 });
    expect(seen.io.devices).toEqual([{ device: "254:0", readBps: 10485760, writeIops: 100 }]);
  });

  it("compares io.max by device and treats a missing line as all max", () => {
    const io = v2Mappings.find((m) => m.files.some((f) => f.file === "io.max"))!;
    const [, line] = io.plan(all, ctx);
    expect(io.normalize(line!, "8:0 rbps=1 wbps=max riops=max wiops=max\n254:0 rbps=10485760 wbps=max riops=max wiops=100")).toBe(line!.value);
    const [, reset] = io.reset(all, ctx);
    expect(io.normalize(reset!, "")).toBe(reset!.value);
  });
});

describe("v1 mapping", () => {
  it("turns limits into v1 file writes with the conversions", () => {
    expect(
      writes(
        v1Mappings,
        L({
          cpu: { weight: 100, max: 0.5 },
          memory: { max: "256Mi", low: "64Mi", swapMax: "64Mi" },
          io: { weight: 100, devices: [{ device: "254:0", writeBps: 1000 }] },
        }),
      ),
    ).toEqual([
      ["cpu/cpu.shares", "2598"],
      ["cpu/cpu.cfs_period_us", "100000"],
      ["cpu/cpu.cfs_quota_us", "50000"],
      ["memory/memory.limit_in_bytes", "268435456"],
      ["memory/memory.soft_limit_in_bytes", "67108864"],
      ["memory/memory.memsw.limit_in_bytes", "335544320"],
      ["blkio/blkio.weight", "20"],
      ["blkio/blkio.throttle.read_bps_device", "254:0 0"],
      ["blkio/blkio.throttle.write_bps_device", "254:0 1000"],
      ["blkio/blkio.throttle.read_iops_device", "254:0 0"],
      ["blkio/blkio.throttle.write_iops_device", "254:0 0"],
    ]);
  });

  it("says what v1 cannot express, per input", () => {
    const f = new Set<string>();
    const out = v1Mappings.flatMap((m) => m.unsupported(L({ memory: { high: "1Gi", swapMax: "1Gi" }, io: { weight: 10 } }), f));
    expect(out.map((u) => u.key)).toEqual(["memory.high", "memory.swapMax", "io.weight"]);
    expect(out[0]!.reason).toContain("cgroup v1 has no memory.high");
    expect(v1Mappings.flatMap((m) => m.unsupported(L({ memory: { swapMax: "1Gi" } }), new Set(["v1-memsw"])))[0]!.reason).toContain("set memory.max too");
  });

  it("reads v1's unlimited and page-rounded values without a perpetual diff", () => {
    const mem = v1Mappings.find((m) => m.files.some((f) => f.file === "memory.limit_in_bytes"))!;
    const [max] = mem.plan(L({ memory: { max: 1000000 } }), ctx);
    expect(mem.normalize(max!, "999424")).toBe(mem.normalize(max!, max!.value));
    const [reset] = mem.reset(L({ memory: { max: 1 } }), ctx);
    expect(mem.normalize(reset!, "9223372036854771712")).toBe(mem.normalize(reset!, reset!.value));
  });
});
