import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytes } from "../../cli/format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KsliceEvent } from "../../cli/events";
import type { PrefixView } from "../../cli/model";
import { kslice, ksliceLive } from "../helpers/cli";
import { Containers } from "../helpers/containers";
import { localCgroupFile, localV2 } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { sleep } from "../helpers/procs";

const prefix = `${testPrefix}-cev`;
const cs = new Containers(prefix);
/** A cgroup file of `<prefix>/<path>` on this host, named by its v2 file (on v1, the file that holds the same counter). */
const cg = (path: string, v2File: string) => readFileSync(localCgroupFile(prefix, path, v2File), "utf8");
// v2 counts OOM kills and memory.max hits in memory.events; v1 in memory.oom_control and memory.failcnt
const oomKills = (path: string) => field(cg(path, localV2() ? "memory.events" : "memory.oom_control"), "oom_kill");
const memoryMaxHits = (path: string) => (localV2() ? field(cg(path, "memory.events"), "max") : Number(cg(path, "memory.failcnt")));
const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);
const forkBomb = "i=0; while [ $i -lt 60 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done 2>/dev/null; sleep 0.5; true";

async function events(args: string[] = []): Promise<KsliceEvent[]> {
  const r = await kslice(["--prefix", prefix, "events", "--json", ...args]);
  expect(r.code).toBe(0);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as KsliceEvent);
}

describe("fail counters and events", () => {
  beforeAll(async () => {
    await cs.create("hog", { command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 600"], limits: { memory: { max: "32Mi" } } });
    await cs.create("forky", { command: ["sleep", "600"], limits: { pids: { max: 20 } } });
    await sleep(2500); // the hog's dd runs after 1 s
  });
  afterAll(async () => {
    await cs.cleanup();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("an OOM kill shows in ps's counters and in events", async () => {
    const kernel = oomKills("hog");
    expect(kernel).toBeGreaterThan(0);
    const r = await kslice(["--prefix", prefix, "ps", "--json", "--interval", "0"]);
    const hog = (JSON.parse(r.stdout) as PrefixView).containers.find((c) => c.name === "hog")!;
    expect(hog.failures.oomKills).toBe(kernel);
    expect(hog.failures.memoryMaxEvents).toBe(memoryMaxHits("hog"));
    expect(hog.failures.memoryMaxEvents).toBeGreaterThan(0);
    const evs = await events();
    expect(evs).toContainEqual(expect.objectContaining({ object: "container", name: "hog", kind: "oom-kill", count: kernel }));
    expect(evs).toContainEqual(expect.objectContaining({ name: "hog", kind: "present" }));
    expect(evs.some((e) => e.name === "forky" && e.kind !== "present")).toBe(false);
  });

  it("events -f reports a fork bomb stopped at pids.max as it happens", async () => {
    const live = ksliceLive(["--prefix", prefix, "events", "-f", "--interval", "0.5"]);
    try {
      await live.waitFor(/container forky {2}present/);
      await cs.exec("forky", forkBomb); // its own exit code varies with where the forks failed
      const out = await live.waitFor(/container forky {2}pids-max {2}\d+ fork/);
      const hits = field(cg("forky", "pids.events"), "max");
      expect(hits).toBeGreaterThan(0);
      expect(out).toMatch(new RegExp(`container forky  pids-max  \\d+ fork\\S* refused at pids.max \\(total ${hits}\\)`));
    } finally {
      const exited = new Promise((r) => live.child.once("exit", r));
      live.child.kill("SIGTERM");
      await exited;
    }
    const r = await kslice(["--prefix", prefix, "ps", "--json", "--interval", "0"]);
    const forky = (JSON.parse(r.stdout) as PrefixView).containers.find((c) => c.name === "forky")!;
    expect(forky.failures.pidsMaxHits).toBe(field(cg("forky", "pids.events"), "max"));
    expect(forky.pids.max).toBe(20);
  });

  it("events -f reports a restart by the supervisor and a stop", async () => {
    await cs.create("flappy", { command: ["sleep", "600"], restartPolicy: "always" });
    const live = ksliceLive(["--prefix", prefix, "events", "-f", "--interval", "0.5"]);
    try {
      const first = /container flappy {2}present {2}running \(pid (\d+)\)/.exec(await live.waitFor(/container flappy {2}present/))!;
      process.kill(Number(first[1]), "SIGKILL");
      await live.waitFor(/container flappy {2}(restarted|stopped|new-pid)/);
      await live.waitFor(/container flappy {2}(restarted|started|new-pid) /);
    } finally {
      const exited = new Promise((r) => live.child.once("exit", r));
      live.child.kill("SIGTERM");
      await exited;
    }
    const after = await events();
    expect(after).toContainEqual(expect.objectContaining({ name: "flappy", kind: "restarted" }));
  });
});

// Disk hits (issue 27): ext4 counts no ENOSPC refusals, so `events` reports an image sampled full
// (cli/model.ts diskFull). A container filled from inside until ENOSPC, beside a neighbour with the
// same limit that is not full (the control).
describe("a disk image filled until ENOSPC", () => {
  const dprefix = `${testPrefix}-cdf`;
  const ds = new Containers(dprefix);
  const devents = async (): Promise<KsliceEvent[]> => {
    const r = await kslice(["--prefix", dprefix, "events", "--json"]);
    expect(r.code).toBe(0);
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as KsliceEvent);
  };
  beforeAll(async () => {
    await ds.create("filler", { command: ["sleep", "600"], disk: { max: "32Mi" }, stopGraceSeconds: 1 });
    await ds.create("roomy", { command: ["sleep", "600"], disk: { max: "32Mi" }, stopGraceSeconds: 1 });
  });
  afterAll(async () => {
    await ds.cleanup();
    expect(leaksOf(dprefix)).toEqual([]);
  });

  it("events -f reports disk-full for the filled container, with its name, and nothing for its neighbour", async () => {
    // before: neither is full
    expect((await devents()).filter((e) => e.kind === "disk-full")).toEqual([]);
    const live = ksliceLive(["--prefix", dprefix, "events", "-f", "--interval", "0.5"]);
    try {
      await live.waitFor(/container filler {2}present/);
      await live.waitFor(/container roomy {2}present/);
      const fill = await ds.exec("filler", "dd if=/dev/zero of=/fill bs=64k; echo rc=$?");
      expect(fill.out).toMatch(/No space left on device/);
      expect(fill.out).toMatch(/rc=[1-9]/);
      const out = await live.waitFor(/container filler {2}disk-full {2}.*ENOSPC/);
      expect(out).toMatch(/container filler {2}disk-full {2}disk image full: \S+ left, \S+\/\S+ used; writes fail with ENOSPC \(sampled\)/);
      expect(out).not.toMatch(/container roomy {2}disk-full/);
    } finally {
      const exited = new Promise((r) => live.child.once("exit", r));
      live.child.kill("SIGTERM");
      await exited;
    }
    // a later first sample says it too (the image is still full), the neighbour still has none
    const evs = await devents();
    expect(evs).toContainEqual(expect.objectContaining({ object: "container", name: "filler", kind: "disk-full" }));
    expect(evs.filter((e) => e.name === "roomy" && e.kind.startsWith("disk"))).toEqual([]);
    const r = await kslice(["--prefix", dprefix, "ps", "--json", "--interval", "0"]);
    const byName = new Map((JSON.parse(r.stdout) as PrefixView).containers.map((c) => [c.name, c]));
    expect(byName.get("filler")!.disk).toMatchObject({ full: true, maxBytes: expect.any(Number) });
    expect(byName.get("filler")!.disk!.usedBytes).toBeGreaterThan(24 << 20);
    expect(byName.get("roomy")!.disk).toMatchObject({ full: false });
    const ps = await kslice(["--prefix", dprefix, "ps", "--interval", "0"]);
    expect(ps.stdout).toMatch(/filler .* \S+\/\S+ FULL/);
    expect(ps.stdout).not.toMatch(/roomy .*FULL/);
    // report: each container's chart has a disk panel, usage against its image's size
    const dir = mkdtempSync(join(tmpdir(), "kslice-cdf-"));
    try {
      const rep = await kslice(["--prefix", dprefix, "report", "--out", join(dir, "r.html"), "--seconds", "1", "--interval", "0.5"]);
      expect(rep.code).toBe(0);
      const html = readFileSync(join(dir, "r.html"), "utf8");
      const chartOf = (name: string) => {
        const s = html.slice(html.indexOf(`class="chart container" data-name="${name}"`));
        return s.slice(0, s.indexOf("</svg>"));
      };
      const size = bytes(byName.get("filler")!.disk!.maxBytes);
      expect(chartOf("filler")).toMatch(new RegExp(`disk: now (2[4-9]|3\\d)(\\.\\d)?Mi, sampled peak [^,]+, limit ${size.replace(".", "\\.")}`));
      expect(chartOf("roomy")).toMatch(/disk: now [\d.]+(Ki|B), sampled peak [^,]+, limit /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
