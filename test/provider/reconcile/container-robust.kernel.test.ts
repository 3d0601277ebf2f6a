import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads, hostContext } from "../../../provider/reconcile/host-context";
import { containerArgs } from "../../../schema/container";
import { parseInput } from "../../../schema/issues";
import { Containers } from "../../helpers/containers";
import { localFactsSync } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const work = mkdtempSync(join(tmpdir(), "kslice-robust-"));
const made: Containers[] = [];
const fresh = (s: string) => {
  const cs = new Containers(`${testPrefix}-rb${s}`);
  made.push(cs);
  return cs;
};

describe("container create, delete and identity under an operator's bad day", () => {
  afterAll(async () => {
    for (const cs of made) {
      await cs.cleanup(); // what a failed test left too
      expect(leaksOf(cs.prefix)).toEqual([]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  it("delete gives the init its stopGraceSeconds (not 2 s) to act on SIGTERM", async () => {
    const cs = fresh("g");
    const out = join(work, "grace");
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    const { id, outs } = await cs.create("slow", {
      command: ["sh", "-c", "trap 'sleep 3; echo graceful > /out/done; exit 0' TERM; sleep 600 & wait"],
      mounts: [{ type: "bind", source: out, target: "/out", readOnly: false }],
      stopGraceSeconds: 20,
    });
    await L.delete(id, outs);
    expect(readFileSync(join(out, "done"), "utf8")).toBe("graceful\n");
    await cs.cleanup();
  });

  it("delete kills a process left in the container's cgroup that the runtime does not know (its state lost while it lived)", async () => {
    const cs = fresh("s");
    const { id, outs } = await cs.create("stray", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    // a process of the host put into the container's node in every hierarchy, as one the runtime lost track of
    const stray = spawn("sleep", ["600"], { detached: true, stdio: "ignore" });
    stray.unref();
    const pid = stray.pid!;
    const nodes = localFactsSync()
      .cgroupMounts.map((m) => join(m, cs.prefix, "stray"))
      .filter((d) => existsSync(d));
    expect(nodes.length).toBeGreaterThan(0);
    for (const d of nodes) writeFileSync(join(d, "cgroup.procs"), String(pid));
    try {
      await L.delete(id, outs);
      for (const d of nodes) expect(existsSync(d)).toBe(false);
      const stat = `/proc/${pid}/stat`;
      // dead (a zombie until this process reaps it)
      expect(existsSync(stat) ? readFileSync(stat, "utf8").split(") ")[1]![0] : "gone").toMatch(/gone|Z|X/);
    } finally {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await cs.cleanup();
  });

  it("a stop waits the grace only for an init that catches SIGTERM: sleep goes at once, a handler that lingers gets its seconds, then SIGKILL", async () => {
    const cs = fresh("t");
    const out = join(work, "term");
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    // the kernel drops a SIGTERM that a namespace's init does not catch: waiting 60 s could only end in SIGKILL
    const plain = await cs.create("plain", { command: ["sleep", "600"], stopGraceSeconds: 60 });
    let t0 = Date.now();
    await L.delete(plain.id, plain.outs);
    expect(Date.now() - t0, "a sleep init's delete waited for the 60 s grace").toBeLessThan(30_000);
    const stubborn = await cs.create("stubborn", {
      command: ["sh", "-c", "trap 'echo term >> /out/log' TERM; while :; do sleep 0.2; done"],
      mounts: [{ type: "bind", source: out, target: "/out", readOnly: false }],
      stopGraceSeconds: 3,
    });
    t0 = Date.now();
    await L.delete(stubborn.id, stubborn.outs);
    expect(Date.now() - t0, "an init catching SIGTERM was killed before its grace").toBeGreaterThanOrEqual(3_000);
    expect(readFileSync(join(out, "log"), "utf8")).toBe("term\n");
    // gone, or a zombie its parent has not reaped yet
    const stat = `/proc/${stubborn.outs.pid as number}/stat`;
    expect(existsSync(stat) ? readFileSync(stat, "utf8").split(") ")[1]![0] : "gone").toMatch(/gone|Z|X/);
    await cs.cleanup();
  });

  it("a failed first create on a fresh prefix leaves the shared setup to its siblings (Host delete removes it)", async () => {
    const cs = fresh("u");
    await expect(cs.create("bad", { command: ["/no/such/binary"], stopGraceSeconds: 1 })).rejects.toThrow(/container bad/);
    // the template it built and the prefix's dirs are still there for a sibling
    expect(existsSync(`/var/lib/${cs.prefix}/templates/busybox/bin/sh`)).toBe(true);
    expect(existsSync(`/var/lib/${cs.prefix}/containers/bad`)).toBe(false);
    // failing and working creates in parallel: every working one runs
    const results = await Promise.allSettled([
      ...Array.from({ length: 3 }, (_, i) => cs.create(`bad${i}`, { command: ["/no/such/binary"], stopGraceSeconds: 1 })),
      ...Array.from({ length: 3 }, (_, i) => cs.create(`ok${i}`, { command: ["sleep", "600"], stopGraceSeconds: 1 })),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "fulfilled", "fulfilled", "fulfilled"]);
    await cs.cleanup();
  });

  it("the spec hash does not depend on the caller's RLIMIT_NOFILE hard limit (ulimit -Hn of another shell)", async () => {
    const cs = fresh("n");
    const { outs, inputs } = await cs.create("web", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    const facts = (await hostContext({ connection: { type: "local" }, prefix: cs.prefix })).facts;
    const before = facts.nofileHard;
    try {
      facts.nofileHard = before - 1000; // as a shell with a lower `ulimit -Hn` reads it
      // an init restarted by the supervisor has another pid than the state records: the spec decides
      expect(await L.diff("", { ...outs, pid: 1 }, inputs)).toEqual({ changes: false });
      // state lost: the next create adopts it, the same declaration from another shell
      const again = await L.create(inputs);
      expect(again.outs!.pid).toBe(outs.pid);
      // a bundle made by an older kslice recorded the hash of the whole config, rlimit included
      const meta = `${outs.bundlePath as string}/kslice.json`;
      facts.nofileHard = before;
      const whole = createHash("sha256")
        .update(JSON.stringify(JSON.parse(readFileSync(`${outs.bundlePath as string}/config.json`, "utf8"))))
        .digest("hex")
        .slice(0, 16);
      writeFileSync(meta, JSON.stringify({ ...JSON.parse(readFileSync(meta, "utf8")), specHash: whole }));
      expect((await L.create(inputs)).outs!.pid).toBe(outs.pid);
    } finally {
      facts.nofileHard = before;
    }
    await cs.cleanup();
  });

  it("a start from a process with a lower hard RLIMIT_NOFILE (another shell, the supervisor) caps the container's, instead of failing", async () => {
    const cs = fresh("s");
    const { outs } = await cs.create("web", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    const bundle = outs.bundlePath as string;
    // what the supervisor does to restart it, here from a process whose hard limit is 8000
    execFileSync("prlimit", ["--nofile=1024:8000", "--", "sh", `${bundle}/start.sh`], { stdio: ["ignore", "ignore", "pipe"] });
    const pid = readFileSync(`${bundle}/init.pid`, "utf8").trim();
    expect(readFileSync(`/proc/${pid}/limits`, "utf8")).toMatch(/^Max open files\s+1024\s+8000\s+files/m);
    await cs.cleanup();
  });

  it("refresh of a container whose memory.low was made unlimited by hand stores inputs the schema takes", async () => {
    const cs = fresh("r");
    const { id, outs, inputs } = await cs.create("web", { command: ["sleep", "600"], limits: { memory: { low: "16Mi", max: "64Mi" } }, stopGraceSeconds: 1 });
    writeFileSync(`/sys/fs/cgroup/memory/${cs.prefix}/web/memory.soft_limit_in_bytes`, "-1"); // v1's unlimited: "max"
    forgetReads(); // what the provider read a moment ago is not what the kernel holds now
    const read = await L.read(id, outs);
    const parsed = parseInput(containerArgs, Object.fromEntries(Object.keys(inputs).map((k) => [k, read.props![k]])));
    expect(parsed.ok ? [] : parsed.failures).toEqual([]);
    expect(await L.diff(id, read.props!, inputs)).toEqual({ changes: true });
    await cs.cleanup();
  });
});
