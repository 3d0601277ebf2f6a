import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { localRuntime } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { sh } from "../helpers/networks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2n`;
const port = "18941";
const published = () => sh(`timeout 5 busybox wget -q -O - http://127.0.0.1:${port}/`);
const runc = (...args: string[]) => execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8" });

describe("Networks through the real engine", () => {
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/networks/index.js",
    config: { "kslice:prefix": prefix, "kslice:port": port },
  });
  afterAll(async () => {
    await stack.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("bad input fails the preview, naming the input, and creates nothing", async () => {
    stack.config["kslice:webAddress"] = "10.232.0.1";
    const p = await stack.run("preview");
    expect(p.ok).toBe(false);
    expect(p.stderr).toContain("networks.0.address");
    expect(p.stderr).toContain("front's gateway");
    stack.config["kslice:webAddress"] = "10.232.0.10"; // (config persists in the stack: set it back)
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("up --parallel 50 gives 50 workers 50 distinct addresses; the web server answers on its published port", async () => {
    const r = await stack.run("up", "--parallel", "50");
    expect(r.ok, r.stderr).toBe(true);
    const out = r.json!.outputs as { web: Record<string, string>; workers: string[]; bridge: string };
    expect(out.web).toEqual({ front: "10.232.0.10", back: "10.232.1.2" });
    expect(out.workers).toHaveLength(50);
    expect(new Set(out.workers).size).toBe(50);
    for (const a of out.workers) expect(Number(a.split(".")[3])).toBeGreaterThanOrEqual(128);
    expect((await published()).out).toContain("hello-e2e");
    const w = await sh(`${localRuntime()} --root /run/${prefix}/runtime exec w7 timeout 5 wget -q -O - http://10.232.0.10/`);
    expect(w.out).toContain("hello-e2e");
    const p = await stack.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
  });

  it("drift (a flushed port rule, a deleted veth) shows in preview --refresh and a plain up restores it", async () => {
    execFileSync("nft", ["flush", "chain", "ip", prefix, "ports"]);
    const veth = execFileSync("sh", ["-c", `grep -l '^${prefix}/container/w3/' /sys/class/net/ks*/ifalias | cut -d/ -f5`], { encoding: "utf8" }).trim();
    execFileSync("ip", ["link", "del", "dev", veth]);
    expect((await published()).code).not.toBe(0);
    const pid = runc("state", "w3");

    const p = await stack.run("preview", "--refresh");
    expect(p.ok, p.stderr).toBe(true);
    expect(p.json!.summary).toMatchObject({ update: 2 });
    expect(p.stderr).toMatch(/ports/);
    expect(p.stderr).toMatch(/networks/);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.json!.summary).toMatchObject({ update: 2 });
    expect((await published()).out).toContain("hello-e2e");
    expect(JSON.parse(runc("state", "w3")).pid).toBe(JSON.parse(pid).pid); // repaired live
    expect((await sh(`${localRuntime()} --root /run/${prefix}/runtime exec w3 timeout 5 wget -q -O - http://10.232.0.10/`)).out).toContain("hello-e2e");
    const again = await stack.run("preview", "--refresh", "--expect-no-changes");
    expect(again.ok, again.stderr).toBe(true);
  });

  it("a subnet overlapping another network's is refused at preview", async () => {
    stack.config["kslice:backSubnet"] = "10.232.0.128/25";
    const p = await stack.run("preview");
    expect(p.ok).toBe(false);
    expect(p.stderr).toMatch(/subnet.*overlaps/);
    stack.config["kslice:backSubnet"] = "10.232.1.0/24";
  });
});
