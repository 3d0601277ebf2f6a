// One create, one script (issue 12): a create of a container with a network and limits costs a
// bounded number of host commands (one shared read, one write script), and a create that fails
// late in its script leaves nothing behind and names the failing step.
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { openTransport } from "../../../provider/transport/open";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";
import { startSshd } from "../../helpers/sshd";

const prefix = `${testPrefix}-one`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const t = openTransport({ type: "local" });
const commands = () => t.commands ?? 0;
const claims = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe("one create, one script", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  let net: Awaited<ReturnType<Networks["create"]>>;
  let warm: Awaited<ReturnType<Containers["create"]>>;
  const args = () => ({
    command: ["sleep", "600"],
    limits: { memory: { max: "64Mi" }, pids: { max: 32 }, cpu: { max: 0.5 } },
    networks: [{ network: ns.ref(net.outs) }],
    ports: [{ hostPort: 18311, containerPort: 80 }],
    stopGraceSeconds: 1,
  });

  it("creates a running container with a network, a port and limits in at most 2 host commands", async () => {
    net = await ns.create("lan", { subnet: "10.231.7.0/24" });
    // the host's setup (facts, cgroups, the template) is made and cached by a first container
    warm = await cs.create("warm", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    const checked = await L.check({}, { host: cs.host, name: "web", ...args() });
    expect(checked.failures).toBeUndefined();
    const before = commands();
    const r = await L.create(checked.inputs!);
    const used = commands() - before;
    console.log(`[one-script] host commands for one create (network, port, limits): ${used}`);
    const beforeDelete = commands();
    await L.delete(r.id, r.outs!);
    const deleted = commands() - beforeDelete;
    console.log(`[one-script] host commands for its delete: ${deleted}`);
    expect(r.outs).toMatchObject({ status: "running", address: "10.231.7.2" });
    expect(used).toBeLessThanOrEqual(2);
  });

  it("over SSH (OpenSSH on loopback) the same create costs at most 3 round trips", async () => {
    const sshd = await startSshd();
    try {
      const connection = { type: "ssh", host: "127.0.0.1", port: sshd.port, privateKey: sshd.privateKey, hostKey: sshd.hostKey };
      // the host's facts over SSH are read once, by the first check
      const checked = await L.check({}, { host: { connection, prefix }, name: "remote", ...args(), ports: [] });
      expect(checked.failures).toBeUndefined();
      const ssh = openTransport((checked.inputs!.host as { connection: never }).connection);
      const before = ssh.commands ?? 0;
      const r = await L.create(checked.inputs!);
      const used = (ssh.commands ?? 0) - before;
      console.log(`[one-script] SSH round trips for one create (network, limits): ${used}`);
      const beforeDelete = ssh.commands ?? 0;
      await L.delete(r.id, r.outs!);
      console.log(`[one-script] SSH round trips for its delete: ${(ssh.commands ?? 0) - beforeDelete}`);
      expect(r.outs).toMatchObject({ status: "running", address: "10.231.7.2" });
      // the snapshot, /etc/resolv.conf, the script
      expect(used).toBeLessThanOrEqual(3);
      await ssh.close();
    } finally {
      await sshd.stop();
    }
  });

  it("an address another process claimed after the shared snapshot was read is a lost race: read again, and the next one is taken", async () => {
    const checked = await L.check({}, { host: cs.host, name: "late", ...args(), ports: [] });
    // a diff reads the host's snapshot, which the create then shares (it is kept for a moment)
    await L.diff("", warm.outs, warm.inputs);
    const ghost = `/var/lib/${prefix}/networks/lan/addresses/10.231.7.2`;
    writeFileSync(ghost, "ghost\n");
    try {
      const r = await L.create(checked.inputs!);
      expect(r.outs).toMatchObject({ status: "running", address: "10.231.7.3" });
      await L.delete(r.id, r.outs!);
      expect(claims(`/var/lib/${prefix}/networks/lan/addresses`)).toEqual(["10.231.7.2"]);
    } finally {
      rmSync(ghost, { force: true });
    }
  });

  it("a start that fails at the end of the script undoes the whole create and names the step", async () => {
    const checked = await L.check({}, { host: cs.host, name: "bad", ...args(), command: ["/no/such/command"] });
    expect(checked.failures).toBeUndefined();
    const err = await L.create(checked.inputs!).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^local: container bad: start: /);
    expect(err?.message).toContain("/no/such/command");
    // nothing of it is left: no bundle, no runtime state, no claims, no cgroup
    expect(existsSync(`/var/lib/${prefix}/containers/bad`)).toBe(false);
    expect(claims(`/var/lib/${prefix}/networks/lan/addresses`)).toEqual([]);
    expect(claims(`/var/lib/${prefix}/ports`)).toEqual([]);
    expect(existsSync(`/sys/fs/cgroup/pids/${prefix}/bad`)).toBe(false);
    expect(existsSync(`/run/${prefix}/runtime/bad`)).toBe(false);
  });
});
