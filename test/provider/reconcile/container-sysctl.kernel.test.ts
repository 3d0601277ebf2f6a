// A container's own name and sysctls: /etc/hostname and /etc/hosts as Docker writes them, for
// every container; sysctls of its own namespaces applied, drift-checked and repaired, the host's
// values untouched; host-wide ones refused at check; containers made before /etc/hostname was
// mounted are still the same declaration and get it at their next start.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { detailOf } from "../../../provider/reconcile/diff-detail";
import { forgetReads } from "../../../provider/reconcile/host-context";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { Networks } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-sysctl`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const idle = ["sleep", "600"];
const hostValue = (key: string) =>
  readFileSync(`/proc/sys/${key.replace(/\./g, "/")}`, "utf8")
    .trim()
    .split(/\s+/)
    .join(" ");
const inside = async (name: string, key: string) => (await cs.exec(name, `cat /proc/sys/${key.replace(/\./g, "/")}`)).out.trim().split(/\s+/).join(" ");
/** Writes a value in the init's namespaces by hand, as a root on the host could. */
const byHand = (pid: number, key: string, value: string) =>
  execFileSync("nsenter", ["--target", String(pid), "--net", "--ipc", "sh", "-c", `echo '${value}' > /proc/sys/${key.replace(/\./g, "/")}`]);
const runc = (...args: string[]) =>
  execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

const declared = {
  "net.core.somaxconn": "1024",
  "kernel.shmmax": "1073741824",
  "net.ipv4.ip_unprivileged_port_start": "80",
  // the kernel prints it with tabs
  "kernel.sem": "250 32000 32 200",
};

describe("a container's name and sysctls", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("has /etc/hostname and /etc/hosts without a network, read-only", async () => {
    await cs.create("alone", { command: idle, stopGraceSeconds: 0 });
    expect((await cs.exec("alone", "cat /etc/hostname; hostname")).out).toBe("alone\nalone\n");
    const hosts = (await cs.exec("alone", "cat /etc/hosts")).out;
    expect(hosts).toContain("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\talone\n");
    const write = await cs.exec("alone", "echo other > /etc/hostname");
    expect(write.code).not.toBe(0);
    expect(write.out).toMatch(/Read-only file system/);
  });

  it("names itself on the address of every network in /etc/hosts", async () => {
    const a = await ns.create("names-a", { subnet: "10.238.30.0/25" });
    const b = await ns.create("names-b", { subnet: "10.238.30.128/25" });
    const { outs } = await cs.create("named", {
      command: idle,
      stopGraceSeconds: 0,
      hostname: "web1",
      networks: [{ network: ns.ref(a.outs) }, { network: ns.ref(b.outs) }],
    });
    const addresses = outs.addresses as Record<string, string>;
    expect(Object.values(addresses)).toHaveLength(2);
    expect((await cs.exec("named", "cat /etc/hostname; hostname")).out).toBe("web1\nweb1\n");
    const hosts = (await cs.exec("named", "cat /etc/hosts")).out;
    expect(hosts).toContain(`${addresses["names-a"]}\tweb1\n${addresses["names-b"]}\tweb1\n`);
    expect(hosts).not.toContain("127.0.1.1");
    // the addresses are the container's own: eth0 and eth1 hold them
    const own = (await cs.exec("named", "ip -4 -o addr show")).out;
    for (const address of Object.values(addresses)) expect(own).toContain(`inet ${address}/25`);
  });

  it("applies sysctls in its own namespaces and leaves the host's values alone", async () => {
    const before = Object.fromEntries(Object.keys(declared).map((k) => [k, hostValue(k)]));
    // the control: each declared value differs from the host's, so seeing it inside means it was applied there
    for (const [k, v] of Object.entries(declared)) expect(before[k]).not.toBe(v);
    const { outs, inputs } = await cs.create("tuned", { command: idle, stopGraceSeconds: 0, sysctls: declared });
    for (const [k, v] of Object.entries(declared)) expect(await inside("tuned", k)).toBe(v);
    for (const k of Object.keys(declared)) expect(hostValue(k)).toBe(before[k]);
    // the container's own /proc/sys is read-only: its root cannot change them either
    expect((await cs.exec("tuned", "echo 5 > /proc/sys/net/core/somaxconn")).code).not.toBe(0);
    forgetReads();
    expect(await L.diff("", outs, inputs)).toEqual({ changes: false });
    made.set("tuned", { outs, inputs });
  });

  it("finds a value changed by hand in its namespace, shows it on refresh, and update writes the declared one back live", async () => {
    const { outs, inputs } = await read("tuned");
    const pid = outs.pid as number;
    byHand(pid, "net.core.somaxconn", "4000");
    byHand(pid, "kernel.sem", "1 2 3 4");
    forgetReads();
    const diff = await L.diff("", outs, inputs);
    expect(diff.changes).toBe(true);
    expect(detailOf(diff)).toEqual(["sysctls"]);
    const refreshed = (await L.read("", outs)).props!;
    expect(refreshed.sysctls).toEqual({ ...declared, "net.core.somaxconn": "4000", "kernel.sem": "1 2 3 4" });
    const updated = (await L.update("", refreshed, inputs)).outs!;
    expect(updated.pid).toBe(pid);
    expect(await inside("tuned", "net.core.somaxconn")).toBe("1024");
    expect(await inside("tuned", "kernel.sem")).toBe("250 32000 32 200");
    forgetReads();
    expect(await L.diff("", updated, inputs)).toEqual({ changes: false });
    made.set("tuned", { outs: updated, inputs });
  });

  it("changes a value live and records it for restarts; a removed one restarts the container with the namespace's default", async () => {
    const { outs, inputs } = await read("tuned");
    const pid = outs.pid as number;
    const changed = { ...inputs, sysctls: { ...declared, "net.core.somaxconn": "2048" } };
    expect((await L.check(outs, changed)).failures).toBeUndefined();
    expect((await L.diff("", outs, changed)).replaces).toBeUndefined();
    const live = (await L.update("", outs, changed)).outs!;
    expect(live.pid).toBe(pid);
    expect(await inside("tuned", "net.core.somaxconn")).toBe("2048");
    const config = JSON.parse(readFileSync(`${outs.bundlePath as string}/config.json`, "utf8")) as { linux: { sysctl: Record<string, string> } };
    expect(config.linux.sysctl["net.core.somaxconn"]).toBe("2048");

    const { "net.core.somaxconn": _gone, ...rest } = changed.sysctls;
    const removed = { ...inputs, sysctls: rest };
    const restarted = (await L.update("", live, removed)).outs!;
    made.set("tuned", { outs: restarted, inputs: removed });
    expect(restarted.pid).not.toBe(pid);
    // what a new network namespace starts with
    const fresh = execFileSync("unshare", ["--net", "cat", "/proc/sys/net/core/somaxconn"], { encoding: "utf8" }).trim();
    expect(await inside("tuned", "net.core.somaxconn")).toBe(fresh);
    expect(await inside("tuned", "kernel.shmmax")).toBe("1073741824");
    forgetReads();
    expect(await L.diff("", restarted, removed)).toEqual({ changes: false });
    // the new spec is the recorded declaration: a fresh stack adopts it without a restart
    const adopted = await L.create({ ...removed, owner: undefined });
    expect(adopted.outs!.pid).toBe(restarted.pid);
  });

  it("refuses a host-wide sysctl at check, naming it, and creates nothing", async () => {
    const r = await L.check(
      {},
      { host: cs.host, name: "hostwide", command: idle, sysctls: { "vm.swappiness": "10", "kernel.panic": "1", "net.core.somaxconn": "1024" } },
    );
    expect(r.failures).toEqual([
      {
        property: "sysctls.vm.swappiness",
        reason: expect.stringMatching(/^got "vm.swappiness", which is not namespaced: it would change the host; expected kernel.shm\*/),
      },
      { property: "sysctls.kernel.panic", reason: expect.stringMatching(/^got "kernel.panic", which is not namespaced/) },
    ]);
    const unknown = await L.check({}, { host: cs.host, name: "hostwide", command: idle, sysctls: { "net.core.no_such_thing": "1" } });
    expect(unknown.failures).toEqual([{ property: "sysctls.net.core.no_such_thing", reason: expect.stringMatching(/no such sysctl in the kernel on host/) }]);
    expect(existsSync(`/var/lib/${prefix}/containers/hostwide`)).toBe(false);
    expect(runc("list", "-q")).not.toMatch(/hostwide/);
  });

  it("keeps a container made before /etc/hostname was mounted: no drift, adopted as the same declaration, mounted at its next start", async () => {
    // user-namespaced: its runtime cannot make the mount target in a root-owned /etc, start.sh must
    const { outs, inputs } = await cs.create("old", { command: idle, stopGraceSeconds: 0, security: { userNamespace: true } });
    const bundle = outs.bundlePath as string;
    // as kslice wrote it before: no /etc/hostname mount, its hash recorded, no target in the rootfs
    const spec = JSON.parse(readFileSync(`${bundle}/config.json`, "utf8")) as { mounts: { destination: string }[]; process: Record<string, unknown> };
    spec.mounts = spec.mounts.filter((m) => m.destination !== "/etc/hostname");
    const oldHash = createHash("sha256")
      .update(JSON.stringify({ ...spec, process: { ...spec.process, rlimits: undefined } }))
      .digest("hex")
      .slice(0, 16);
    const record = JSON.parse(readFileSync(`${bundle}/kslice.json`, "utf8")) as Record<string, unknown>;
    writeFileSync(`${bundle}/config.json`, JSON.stringify(spec, null, 2));
    writeFileSync(`${bundle}/kslice.json`, JSON.stringify({ ...record, specHash: oldHash }));
    runc("delete", "--force", "old");
    rmSync(`${bundle}/rootfs/etc/hostname`);
    rmSync(`${bundle}/hostname`);
    // started as the old kslice's start did: the runtime from the bundle (stdio to the log: no pipe held open)
    execFileSync("sh", ["-c", `${localRuntime()} --root /run/${prefix}/runtime run --detach --bundle ${bundle} old </dev/null >>${bundle}/log 2>&1`]);
    const oldPid = Number(runc("state", "old").match(/"pid": (\d+)/)![1]);
    expect((await cs.exec("old", "cat /etc/hostname")).code).not.toBe(0);
    forgetReads();

    // a restart outside kslice (another pid, the old config): the same declaration, nothing to do
    expect(await L.diff("", outs, inputs)).toEqual({ changes: false });
    // state lost: a create of the same declaration takes it over, running as it is
    const adopted = (await L.create(inputs)).outs!;
    expect(adopted.pid).toBe(oldPid);
    // its next start (stopped behind kslice's back, started by up) mounts /etc/hostname
    runc("kill", "old", "KILL");
    for (let i = 0; i < 50 && !/"status": "stopped"/.test(runc("state", "old")); i++) await new Promise((r) => setTimeout(r, 100));
    forgetReads();
    const started = (await L.update("", adopted, inputs)).outs!;
    expect(started.pid).not.toBe(oldPid);
    expect((await cs.exec("old", "cat /etc/hostname")).out).toBe("old\n");
  });
});

/** The last known outputs and inputs of a container made in this file. */
const made = new Map<string, { outs: Props; inputs: Props }>();
async function read(name: string): Promise<{ outs: Props; inputs: Props }> {
  const known = made.get(name);
  if (!known) throw new Error(`container ${name} was not made by an earlier test of this file`);
  return known;
}
