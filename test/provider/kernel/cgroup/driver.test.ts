import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CgroupDriver } from "../../../../provider/kernel/cgroup/driver";
import { parseFacts } from "../../../../provider/kernel/host-facts";
import type { CommandResult, Transport } from "../../../../provider/transport/transport";

const fixture = (name: string) => readFileSync(join(__dirname, "../../../fixtures/facts", `${name}.txt`), "utf8");

/** A cgroupfs in a map: reads give its files, writes are recorded (no kernel). */
function fakeTransport(files: Record<string, string>): Transport & { writes: [string, string][] } {
  const writes: [string, string][] = [];
  const done = (command: string): CommandResult => ({ command, exitCode: 0, stdout: "", stderr: "", timedOut: false });
  return {
    target: "fake",
    writes,
    // the driver's tree read (tree.ts): every dir above a file, the files, their lines
    run: async (argv) => {
      if (!String(argv[argv.length - 1]).includes("@@d")) return done(argv.join(" "));
      const dirs = new Set(
        Object.keys(files).flatMap((f) =>
          f
            .split("/")
            .slice(1, -1)
            .map((_, i, parts) => `/${parts.slice(0, i + 1).join("/")}`),
        ),
      );
      // tail -v: a header per file, its content, an empty line before the next header
      const out = [
        ...[...dirs].map((d) => `@@d ${d}\n`),
        Object.entries(files)
          .map(([f, c]) => `==> ${f} <==\n${c}`)
          .join("\n"),
      ];
      return { ...done("tree"), stdout: out.join("") };
    },
    readFile: async (p) => files[p] ?? "",
    readFiles: async (ps) => ps.map((p) => files[p]),
    writeFile: async (p, d) => void writes.push([p, d]),
    close: async () => {},
  };
}

describe("CgroupDriver", () => {
  it("v2: a removed cpuset goes back to the parent's effective set (a populated cgroup refuses an empty one)", async () => {
    const t = fakeTransport({ "/sys/fs/cgroup/ks/tenant/cpuset.cpus": "", "/sys/fs/cgroup/ks/tenant/cpuset.cpus.effective": "0-1\n" });
    const d = new CgroupDriver(t, parseFacts(fixture("unified")), "ks");
    const ctx = { periodUs: 100_000, devices: {} };
    const resets = d.reset({ cpu: { cpuset: { cpus: "1" } } }, ctx);
    await d.apply("tenant/web", "tenant", resets);
    expect(t.writes).toEqual([["/sys/fs/cgroup/ks/tenant/web/cpuset.cpus", "0-1"]]);
    // never a drift: the value is the parent's at write time
    expect(d.drift(resets, { "cpuset/cpuset.cpus": "1" })).toEqual([]);
  });

  it("v1: a removed cpuset takes the parent's cpuset.cpus", async () => {
    const t = fakeTransport({ "/sys/fs/cgroup/cpuset/ks/tenant/cpuset.cpus": "0\n" });
    const facts = { ...parseFacts(fixture("hybrid")), cgroupV1Mounts: { cpuset: "/sys/fs/cgroup/cpuset" } };
    const d = new CgroupDriver(t, facts, "ks");
    await d.apply("tenant/web", "tenant", d.reset({ cpu: { cpuset: { cpus: "1" } } }, { periodUs: 100_000, devices: {} }));
    expect(t.writes).toEqual([["/sys/fs/cgroup/cpuset/ks/tenant/web/cpuset.cpus", "0"]]);
  });

  it("v2: a node with processes of its own cannot get children, and the error says why", async () => {
    const t = fakeTransport({ "/sys/fs/cgroup/ks/live/cgroup.procs": "4242", "/sys/fs/cgroup/ks/live/cgroup.controllers": "cpu memory pids" });
    const writeFile = t.writeFile;
    t.writeFile = async (p, d) => {
      if (p === "/sys/fs/cgroup/ks/live/cgroup.subtree_control") throw new Error("printf: I/O error");
      return writeFile(p, d);
    };
    const d = new CgroupDriver(t, parseFacts(fixture("unified")), "ks");
    await expect(d.create("live/kid", "live", { adopt: false })).rejects.toThrow(
      /cgroup ks\/live holds 1 process\(es\) \(pids 4242\); cgroup v2 allows child cgroups only below a node without processes of its own/,
    );
  });

  describe("kill: the kernel's cgroup.kill, else fallbackKill (freeze, SIGKILL each process, thaw)", () => {
    /** A node holding pid 4242 that empties when killed; records writes and kill commands in order. */
    function killable(procsFile: string) {
      const files: Record<string, string> = { [procsFile]: "4242" };
      const t = fakeTransport(files);
      const steps: string[] = [];
      const run = t.run;
      t.run = async (argv, opts) => {
        if (argv[0] === "kill") {
          steps.push(argv.join(" "));
          files[procsFile] = "";
        }
        return run(argv, opts);
      };
      t.writeFile = async (p, d) => {
        steps.push(`${p}=${d}`);
        if (p.endsWith("/cgroup.kill")) files[procsFile] = "";
      };
      return { t, steps };
    }

    it("v2 with cgroup.kill: one write, no signal sent by kslice", async () => {
      const { t, steps } = killable("/sys/fs/cgroup/ks/web/cgroup.procs");
      await new CgroupDriver(t, { ...parseFacts(fixture("unified")), features: ["cgroup-kill"] }, "ks").kill("web");
      expect(steps).toEqual(["/sys/fs/cgroup/ks/web/cgroup.kill=1"]);
    });

    it("v2 before 5.14: frozen with cgroup.freeze around the SIGKILL", async () => {
      const { t, steps } = killable("/sys/fs/cgroup/ks/web/cgroup.procs");
      await new CgroupDriver(t, { ...parseFacts(fixture("unified")), features: [] }, "ks").kill("web");
      expect(steps).toEqual(["/sys/fs/cgroup/ks/web/cgroup.freeze=1", "kill -9 4242", "/sys/fs/cgroup/ks/web/cgroup.freeze=0"]);
    });

    it("v1: frozen with the freezer hierarchy's freezer.state around the SIGKILL", async () => {
      const { t, steps } = killable("/sys/fs/cgroup/pids/ks/web/cgroup.procs");
      const facts = parseFacts(fixture("hybrid"));
      await new CgroupDriver(t, { ...facts, cgroupV1Mounts: { ...facts.cgroupV1Mounts, freezer: "/sys/fs/cgroup/freezer" } }, "ks").kill("web");
      expect(steps).toEqual(["/sys/fs/cgroup/freezer/ks/web/freezer.state=FROZEN", "kill -9 4242", "/sys/fs/cgroup/freezer/ks/web/freezer.state=THAWED"]);
    });

    it("v1 without a freezer hierarchy: SIGKILL alone", async () => {
      const { t, steps } = killable("/sys/fs/cgroup/pids/ks/web/cgroup.procs");
      await new CgroupDriver(t, parseFacts(fixture("hybrid")), "ks").kill("web");
      expect(steps).toEqual(["kill -9 4242"]);
    });
  });
});
