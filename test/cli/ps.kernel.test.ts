import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitsLifecycle } from "../../provider/reconcile/limits";
import type { PrefixView } from "../../cli/model";
import { kslice } from "../helpers/cli";
import { Containers } from "../helpers/containers";
import { localCgroupFile, localRuntime, localV2 } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { Networks } from "../helpers/networks";
import { testPrefix } from "../helpers/prefix";

// The kernel files read below are this host's: v1's or v2's, as its facts say.
const prefix = `${testPrefix}-cps`;
const cs = new Containers(prefix);
const host = cs.host;
const nets = new Networks(prefix);
const owner = "urn:pulumi:staging::shop::kslice:index:Container::web";
/** A cgroup file of `<prefix>/<path>`, named by its v2 file (on v1, the file that holds the same setting). */
const cg = (path: string, v2File: string) => readFileSync(localCgroupFile(prefix, path, v2File), "utf8").trim();
const v2 = localV2();
const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);

describe("kslice ps", () => {
  let view: PrefixView;
  beforeAll(async () => {
    const c = await limitsLifecycle.check({}, { host, name: "tenant", limits: { memory: { max: "128Mi" }, cpu: { max: 1 }, pids: { max: 100 } } });
    await limitsLifecycle.create(c.inputs!);
    const net = await nets.create("n", { subnet: "10.251.41.0/24" });
    await cs.create("web", {
      parent: "tenant",
      command: ["sleep", "600"],
      limits: { memory: { max: "48Mi" }, cpu: { max: 0.5 }, pids: { max: 30 } },
      networks: [{ network: nets.ref(net.outs) }],
      ports: [{ hostPort: 18841, containerPort: 80 }],
      owner,
    });
    await cs.create("solo", { command: ["sleep", "600"] });
    const r = await kslice(["--prefix", prefix, "ps", "--json", "--interval", "0.5"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    view = JSON.parse(r.stdout) as PrefixView;
  });
  afterAll(async () => {
    await cs.cleanup(false);
    await nets.cleanup();
    await limitsLifecycle.delete("", { host, name: "tenant", onDeleteWithProcesses: "kill" }).catch(() => undefined);
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("lists every container with the runtime's status and pid", () => {
    const state = JSON.parse(execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, "state", "web"], { encoding: "utf8" })) as {
      pid: number;
      status: string;
    };
    const web = view.containers.find((c) => c.name === "web")!;
    expect(web.status).toBe("running");
    expect(web.pid).toBe(state.pid);
    expect(web.cgroup).toBe("tenant/web");
    expect(web.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(view.containers.map((c) => c.name).sort()).toEqual(["solo", "web"]);
    expect(view.cgroupVersion).toBe(v2 ? 2 : 1);
  });

  it("shows each container's published ports and the stack that owns it, from the host's claims and records", () => {
    const claim = readFileSync(`/var/lib/${prefix}/ports/web`, "utf8").trim();
    expect(claim).toBe("tcp/0.0.0.0/18841");
    const web = view.containers.find((c) => c.name === "web")!;
    expect(web.ports).toEqual(["tcp 0.0.0.0:18841"]);
    expect(web.owner).toBe(owner);
    expect(web.stack).toBe("shop/staging");
    const solo = view.containers.find((c) => c.name === "solo")!;
    expect(solo).toMatchObject({ ports: [], owner: null, stack: null });
  });

  it("agrees with the kernel's cgroup files: limits, usage and fail counters", () => {
    const web = view.containers.find((c) => c.name === "web")!;
    expect(web.memory.maxBytes).toBe(Number(cg("tenant/web", "memory.max")));
    expect(web.memory.maxBytes).toBe(48 * 2 ** 20);
    expect(web.pids.max).toBe(Number(cg("tenant/web", "pids.max")));
    const [quota, period] = v2
      ? cg("tenant/web", "cpu.max").split(" ").map(Number)
      : [Number(cg("tenant/web", "cpu.max")), Number(cg("tenant/web", "cpu.cfs_period_us"))];
    expect(web.cpu.maxCores).toBe(quota! / period!);
    // an idle sleep: its task count and peak do not move between our reads
    expect(web.pids.current).toBe(Number(cg("tenant/web", "pids.current")));
    expect(web.memory.peakBytes).toBe(Number(cg("tenant/web", v2 ? "memory.peak" : "memory.max_usage_in_bytes")));
    expect(web.memory.currentBytes).toBeGreaterThan(0);
    expect(web.cpu.percent).not.toBeNull();
    const events = v2 ? cg("tenant/web", "memory.events") : "";
    expect(web.failures).toEqual({
      oomKills: field(v2 ? events : cg("tenant/web", "memory.oom_control"), "oom_kill"),
      pidsMaxHits: field(cg("tenant/web", "pids.events"), "max"),
      memoryHighEvents: v2 ? field(events, "high") : null,
      memoryMaxEvents: v2 ? field(events, "max") : Number(cg("tenant/web", "memory.failcnt")),
      cpuThrottledPeriods: field(cg("tenant/web", "cpu.stat"), "nr_throttled"),
      cpuThrottledUs: v2 ? field(cg("tenant/web", "cpu.stat"), "throttled_usec") : Math.round(field(cg("tenant/web", "cpu.stat"), "throttled_time") / 1000),
    });
    const solo = view.containers.find((c) => c.name === "solo")!;
    expect(solo.memory.maxBytes).toBeNull();
    expect(solo.pids.max).toBeNull();
  });

  it("shows budgets with their limits and the containers inside", () => {
    const tenant = view.budgets.find((b) => b.path === "tenant")!;
    expect(tenant.parent).toBeNull();
    expect(tenant.containers).toEqual(["web"]);
    expect(tenant.memory.maxBytes).toBe(Number(cg("tenant", "memory.max")));
    expect(tenant.pids.max).toBe(100);
    expect(tenant.cpu.maxCores).toBe(1);
    expect(view.budgets.map((b) => b.path)).toEqual(["tenant"]);
  });

  it("prints a table with the budget tree", async () => {
    const r = await kslice(["--prefix", prefix, "ps", "--interval", "0"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+STATUS\s+PID/);
    const tenant = lines.findIndex((l) => /^tenant\/\s+budget/.test(l));
    expect(tenant).toBeGreaterThan(0);
    expect(lines[tenant + 1]).toMatch(/^ {2}web\s+container\s+running\s+\d+\s+10\.251\.41\.\d+\s+tcp 0\.0\.0\.0:18841\s+shop\/staging\s/);
    expect(r.stdout).toMatch(/48Mi/);
  });

  it("refuses bad input with a clear error and a non-zero exit", async () => {
    const empty = await kslice(["--prefix", `${prefix}-none`, "ps"]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/nothing under prefix "[^"]+-none"/);
    const flag = await kslice(["--prefix", prefix, "ps", "--bogus"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/Unknown option '--bogus'/);
    const misplaced = await kslice(["--prefix", prefix, "ps", "--tail", "3"]);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toBe("kslice: ps takes no --tail\n(kslice ps --help for usage)\n");
    const prefixBad = await kslice(["--prefix", "Bad_Prefix", "ps"]);
    expect(prefixBad.code).toBe(2);
    expect(prefixBad.stderr).toMatch(/--prefix: got "Bad_Prefix"/);
    const cmd = await kslice(["--prefix", prefix, "pss"]);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "pss"/);
  });
});
