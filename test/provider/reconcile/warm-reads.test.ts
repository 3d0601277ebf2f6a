import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CgroupDriver } from "../../../provider/kernel/cgroup/driver";
import { parseFacts } from "../../../provider/kernel/host-facts";
import { HostView } from "../../../provider/reconcile/host-view";
import type { CommandResult, Transport } from "../../../provider/transport/transport";

const facts = parseFacts(readFileSync(join(__dirname, "../../fixtures/facts/unified.txt"), "utf8"));

/** A host in a fake transport: its cgroup tree (tail -v's format), the runtime's list, /proc files. */
function fakeHost(prefix: string, procs: string, networked = false) {
  const commands: string[] = [];
  const ok = (stdout: string): CommandResult => ({ command: "", exitCode: 0, stdout, stderr: "", timedOut: false });
  const root = `${facts.cgroupV2Mount}/${prefix}`;
  // the claims: web's bundle, and with `networked` its address on network "front"
  const claims = `@@bundles\nweb 0\n@@addresses\n${networked ? `/var/lib/${prefix}/networks/front/addresses/10.0.0.2:web\n` : ""}`;
  const label = (script: string) =>
    script.includes("ks_tree_roots")
      ? "tree"
      : script.includes(" list --format json")
        ? "snapshot"
        : script.startsWith("echo null;")
          ? "claims"
          : script.includes("@@veths")
            ? "probe"
            : script;
  const t = {
    target: "fake",
    run: async (argv: readonly string[]) => {
      const script = String(argv[argv.length - 1]);
      commands.push(label(script));
      if (script.includes("ks_tree_roots")) return ok(`@@d ${root}\n@@d ${root}/web\n==> ${root}/web/cgroup.procs <==\n${procs}`);
      if (script.includes(" list --format json")) {
        return ok(`${procs ? JSON.stringify([{ id: "web", pid: 4242, status: "running", created: "2026-11-30T00:00:00Z" }]) : "null"}\n${claims}`);
      }
      if (label(script) === "probe") return ok("@@ns web 4242\nL 2: eth0@if17: <BROADCAST,UP> mtu 1500 qdisc noqueue\n");
      return ok("");
    },
    readFiles: async (paths: string[]) => (commands.push(`read ${paths.join(" ")}`), paths.map((p) => `${p}: contents`)),
  };
  const host = { connection: { type: "local" as const }, prefix };
  // a diff's view: its reads of one container come in a burst
  const h = { t: t as unknown as Transport, facts, cgroups: new CgroupDriver(t as never, facts, prefix), view: new HostView(t as never, facts, host, "diff") };
  return { h, host, commands };
}

/** What the Host's check does. */
const warmReads = (h: ReturnType<typeof fakeHost>["h"]) => h.view.warm(() => h.cgroups.procs(""));

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("warmReads (the Host's check starts the reads the first diffs wait on)", () => {
  it("reads the tree, then the snapshot and the live inits' files, which the diffs then take without reading again", async () => {
    const f = fakeHost("kslice-warm1", "4242\n");
    warmReads(f.h);
    await settle();
    // no address held: no probe of networks
    expect(f.commands).toEqual(["tree", "snapshot", "read /proc/4242/status /proc/4242/uid_map /proc/4242/root/proc/uptime"]);
    // what a burst of diffs asks next
    const snap = await f.h.view.snapshots().get();
    expect(await f.h.view.initFiles(snap, "web", 4242)).toEqual([
      "/proc/4242/status: contents",
      "/proc/4242/uid_map: contents",
      "/proc/4242/root/proc/uptime: contents",
    ]);
    await f.h.cgroups.read("web");
    expect(f.commands).toHaveLength(3);
  });

  it("with addresses claimed, starts the probe of every network with the inits' files, which a burst diff then takes", async () => {
    const f = fakeHost("kslice-warm4", "4242\n", true);
    warmReads(f.h);
    await settle();
    expect(f.commands).toEqual(["tree", "snapshot", "read /proc/4242/status /proc/4242/uid_map /proc/4242/root/proc/uptime", "probe"]);
    const snap = await f.h.view.snapshots().get();
    let own = 0;
    const text = await f.h.view.netProbeText(snap, "web", 4242, [], [], async () => (own++, ""));
    expect(text).toContain("eth0@if17");
    expect(own).toBe(0);
    expect(f.commands).toHaveLength(4);
  });

  it("a prefix with no process in its cgroups (budgets alone, nothing running) costs the tree read alone", async () => {
    const f = fakeHost("kslice-warm2", "");
    warmReads(f.h);
    await settle();
    expect(f.commands).toEqual(["tree"]);
  });

  it("a host that fails to answer leaves nothing behind: the next read asks again", async () => {
    const f = fakeHost("kslice-warm3", "4242\n");
    let fail = true;
    const run = f.h.t.run.bind(f.h.t);
    (f.h.t as { run: typeof run }).run = async (argv, o) => {
      if (fail) throw new Error("host does not answer");
      return run(argv, o);
    };
    warmReads(f.h);
    await settle();
    fail = false;
    expect((await f.h.cgroups.procs("")).length).toBe(1);
  });
});
