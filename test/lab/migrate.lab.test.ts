// Migration between two cgroup v2 lab VMs (issue 13), through the real engine: a container's `host`
// changes from one VM to the other and it moves with its data (cold), stopped ones stay stopped, a
// target without room is refused at preview, a failure injected on the target (its disk filled
// during the copy) leaves it on the source; live migration is refused at preview or falls back to
// cold where the VMs cannot checkpoint (crun: no CRIU), and with runc on both VMs a counting
// container on a Network moves live: the same process goes on counting and serving on the other VM,
// on that VM's network.
import { afterAll, describe, expect, it } from "vitest";
import { liveUnsupported } from "../../provider/reconcile/container";
import { hostContext } from "../../provider/reconcile/host-context";
import { shellQuote as q } from "../../provider/transport/transport";
import { sshConnection, sshRun, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-mig`;
const rt = `crun --root /run/${prefix}/runtime`;
const bundle = `/var/lib/${prefix}/containers/box`;

describe("a container whose host changes migrates with its data", () => {
  // the build machine is shared: give slow TCG boots room
  const lab = useLab(2, { bootTimeoutMs: 300_000 });
  const vm = (k: "a" | "b"): LabHost => lab().hosts[k === "a" ? 0 : 1]!;
  const target = (k: "a" | "b") => `${vm(k).ssh.user}@${vm(k).ssh.host}:${vm(k).ssh.port}`;
  async function ok(k: "a" | "b", command: string): Promise<string> {
    const r = await sshRun(vm(k), command, undefined, { timeoutMs: 120_000 });
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }
  const inside = (k: "a" | "b", script: string) => ok(k, `${rt} exec box sh -c ${q(script)}`);
  const status = async (k: "a" | "b") =>
    (await ok(k, `${rt} state box 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"'; true`)).trim() || "missing";
  const sha = "sha256sum /data/blob | cut -d' ' -f1";

  let stack: TestStack | undefined;
  function makeStack(): TestStack {
    const s = new TestStack("test/fixtures/programs", {
      program: "dist/test/fixtures/programs/migrate/index.js",
      config: {
        "kslice:aPrefix": prefix,
        "kslice:bPrefix": prefix,
        "kslice:network": "true",
        "kslice:aSshPort": String(vm("a").ssh.port),
        "kslice:aHostKey": vm("a").ssh.hostKey,
        "kslice:bSshPort": String(vm("b").ssh.port),
        "kslice:bHostKey": vm("b").ssh.hostKey,
      },
    });
    s.secrets["kslice:privateKey"] = vm("a").ssh.privateKey; // one client key per lab run
    return s;
  }
  const up = async (at: "a" | "b", extra: Record<string, string> = {}) => {
    Object.assign(stack!.config, { "kslice:at": at }, extra);
    return stack!.run("up");
  };

  afterAll(async () => {
    await stack?.dispose();
  }, 300_000);

  let data = "";
  it("cold: 200 MiB written inside on A arrive on B (template built there first), pre-copied while it ran, with a writer's appends; limits, network and port as declared, nothing left on A", async () => {
    stack = makeStack();
    const first = await up("a");
    expect(first.ok, first.stderr).toBe(true);
    data = (
      await inside(
        "a",
        `mkdir -p /data && dd if=/dev/urandom of=/data/blob bs=1M count=50 2>/dev/null && dd if=/dev/urandom of=/data/bulk bs=1M count=150 2>/dev/null && touch /data/owned && chown 1234:4321 /data/owned && ${sha}`,
      )
    ).trim();
    expect(data).toMatch(/^[0-9a-f]{64}$/);
    const bulk = (await inside("a", "sha256sum /data/bulk | cut -d' ' -f1")).trim();
    expect(bulk).toMatch(/^[0-9a-f]{64}$/);
    expect((await sshRun(vm("b"), `test -d /var/lib/${prefix}/templates/busybox`)).exitCode).not.toBe(0);

    const preview = (Object.assign(stack.config, { "kslice:at": "b" }), await stack.run("preview"));
    expect(preview.ok, preview.stderr).toBe(true);
    expect(preview.json!.summary).toMatchObject({ update: 1 });
    expect(preview.json!.summary).not.toHaveProperty("replace");

    // a writer appending numbered lines all through the pre-copy, until the stop ends it
    await inside("a", "(i=0; while :; do i=$((i+1)); echo $i >> /data/seq; sleep 0.2; done) </dev/null >/dev/null 2>&1 &");
    await new Promise((r) => setTimeout(r, 1000));
    const before = Number((await inside("a", "wc -l < /data/seq")).trim());
    const moved = await up("b");
    expect(moved.ok, moved.stderr).toBe(true);
    expect(moved.stderr).toContain(`container box will migrate from ${target("a")} to ${target("b")} (cold)`);
    // what it wrote during the pre-copy arrived whole: every line from 1 to the last, and more than before the up
    const seq = (await inside("b", "awk 'NR != $1 { print \"gap at \" NR; exit } END { print NR }' /data/seq")).trim();
    expect(seq).toMatch(/^\d+$/);
    expect(Number(seq)).toBeGreaterThan(before);
    expect(moved.json!.summary).toMatchObject({ update: 1 });
    const m = moved.json!.outputs.lastMigration as {
      mode: string;
      downtimeMs: number;
      bytes: number;
      precopyBytes: number;
      templateBuilt: boolean;
      from: string;
      to: string;
    };
    expect(m).toMatchObject({ mode: "cold", templateBuilt: true, from: target("a"), to: target("b") });
    expect(m.bytes).toBeGreaterThan(200 * 2 ** 20);
    // the 200 MiB went while it ran; while it was stopped only what changed since (next to nothing)
    expect(m.precopyBytes).toBeGreaterThan(200 * 2 ** 20);
    expect(m.bytes - m.precopyBytes).toBeLessThan(2 ** 20);
    expect(moved.stderr).toMatch(/pre-copied 20\d\.\d MiB to .* while it ran/);
    expect(m.downtimeMs).toBeGreaterThan(0);
    console.log(
      `cold migration of 200 MiB between lab VMs: downtime ${m.downtimeMs} ms, ${m.bytes} bytes (${m.precopyBytes} while it ran); ${/pre-copied .*? s\)/.exec(moved.stderr)?.[0] ?? ""}; ${/migrated from .*$/m.exec(moved.stderr)?.[0] ?? ""}`,
    );

    expect(await status("b")).toBe("running");
    expect((await inside("b", sha)).trim()).toBe(data);
    expect((await inside("b", "sha256sum /data/bulk | cut -d' ' -f1")).trim()).toBe(bulk);
    expect((await inside("b", "stat -c '%u:%g' /data/owned")).trim()).toBe("1234:4321");
    expect((await ok("b", `cat /sys/fs/cgroup/${prefix}/box/memory.max /sys/fs/cgroup/${prefix}/box/pids.max`)).trim().split("\n")).toEqual([
      String(96 * 2 ** 20),
      "48",
    ]);
    expect(moved.json!.outputs.address).toMatch(/^10\.234\.7\.\d+$/);
    expect(await ok("b", `nft list table ip ${prefix} | grep -c 'dport 18341'`)).not.toBe("0");
    // its anti-spoofing elements came with it, and went from A
    expect(await ok("b", `nft list set bridge ${prefix} ip4`)).toContain(` . ${moved.json!.outputs.address as string}`);
    expect(await ok("a", `nft list set bridge ${prefix} ip4 2>/dev/null; true`)).not.toContain(` . ${moved.json!.outputs.address as string}`);
    // nothing of the container is left on A (its host setup stays: the Host is still declared there)
    const leftOnA = await ok(
      "a",
      `ls /var/lib/${prefix}/containers /run/${prefix}/runtime; ls -d /sys/fs/cgroup/${prefix}/box; grep -rl box /var/lib/${prefix}/ports /var/lib/${prefix}/networks; true`,
    );
    expect(leftOnA).not.toMatch(/box/);
    expect(await status("a")).toBe("missing");
    // the moves ahead carry 50 MiB (a full disk's test) or less: 200 MiB has proved the copy
    await inside("b", "rm /data/bulk");
  }, 900_000);

  it("a target without room is refused at preview; a disk filled during the copy fails it, leaving the container running on the source, unchanged; the errors name the step and host", async () => {
    // leave ~40 MiB free on A's /var/lib (root's reserved blocks counted; ext4 keeps 16 MiB of
    // them for itself): the bundle fits, the 50 MiB layer cannot land
    const fill = `fallocate -l $(( $(stat -f -c %f /var/lib) * $(stat -f -c %S /var/lib) - 40 * 1024 * 1024 )) /var/lib/fill.kslice-test`;
    try {
      await ok("a", fill);
      Object.assign(stack!.config, { "kslice:at": "a" });
      const r = await stack!.run("preview");
      expect(r.ok).toBe(false);
      expect(r.stderr).toContain(`container box cannot migrate to host ${target("a")}: it needs 50.0 MiB`);
      expect(r.stderr).toMatch(/ short/);
    } finally {
      await ok("a", "rm -f /var/lib/fill.kslice-test");
    }
    // room at preview, none once the copy runs: the target holds the unstarted bundle (the
    // check passed), then its disk fills while the layer streams in
    const moving = up("a");
    let filled = false;
    try {
      for (const end = Date.now() + 300_000; Date.now() < end; await new Promise((w) => setTimeout(w, 1000))) {
        if ((await sshRun(vm("a"), `test -d ${bundle}`)).exitCode === 0) {
          // ~4 MiB left for root: whatever part of the layer already landed, the rest cannot
          await ok("a", fill.replace("- 40 *", "- 20 *"));
          filled = true;
          break;
        }
      }
      const r = await moving;
      expect(filled).toBe(true);
      expect(r.ok).toBe(false);
      expect(r.stderr).toContain(`migration from ${target("b")} to ${target("a")} failed at step "`);
      expect(r.stderr).toMatch(/copy of the writable layer \(unpack\)" on host /);
      expect(r.stderr).toMatch(/No space left on device/);
    } finally {
      await moving.catch(() => undefined);
      await ok("a", "rm -f /var/lib/fill.kslice-test");
    }
    expect(await status("b")).toBe("running");
    expect((await inside("b", sha)).trim()).toBe(data);
    expect(await status("a")).toBe("missing");
    expect((await sshRun(vm("a"), `test -e ${bundle}`)).exitCode).not.toBe(0);
    // the state still says B: back to it, nothing to do
    Object.assign(stack!.config, { "kslice:at": "b" });
    expect((await stack!.run("preview", "--expect-no-changes")).ok).toBe(true);
  }, 900_000);

  it("live: refused at preview naming the host and why; live-or-cold falls back to cold saying why", async () => {
    // with runc a lab VM passes the probe (criu 3.17 check, iptables-restore)
    const runcHost = { connection: { ...sshConnection(vm("a")), insecureIgnoreHostKey: false, connectTimeoutSeconds: 30 }, prefix, runtime: "runc" as const };
    expect(await liveUnsupported(await hostContext(runcHost), runcHost)).toBeUndefined();
    Object.assign(stack!.config, { "kslice:at": "a", "kslice:migration": "live" });
    const refused = await stack!.run("preview");
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toContain("migration");
    // Debian 12's crun 1.8 is built without CRIU (criu check itself passes in the VMs)
    expect(refused.stderr).toContain(`host ${target("b")}: crun was built without CRIU`);
    // the crun host's lack of CRIU is the reason, not the container's Network (it moves live between runc hosts, below)
    expect(refused.stderr).not.toContain("the container is on a Network");

    // the 50 MiB proved the copy already: 1 MiB here keeps the lab tier short (the moves ahead are through TCG sshd)
    data = (await inside("b", `head -c 1048576 /dev/urandom > /data/blob && ${sha}`)).trim();
    const fell = await up("a", { "kslice:migration": "live-or-cold" });
    expect(fell.ok, fell.stderr).toBe(true);
    expect(fell.stderr).toMatch(/live migration is not possible \(host .*: crun was built without CRIU.*\); migrating cold/);
    expect((fell.json!.outputs.lastMigration as { mode: string }).mode).toBe("cold");
    expect(await status("a")).toBe("running");
    expect((await inside("a", sha)).trim()).toBe(data);
  }, 600_000);

  it("a stopped container moves stopped: its data arrives, it is not started", async () => {
    const stopped = await up("a", { "kslice:state": "stopped", "kslice:migration": "cold" });
    expect(stopped.ok, stopped.stderr).toBe(true);
    const moved = await up("b");
    expect(moved.ok, moved.stderr).toBe(true);
    expect(moved.json!.outputs.status).toBe("stopped");
    expect((moved.json!.outputs.lastMigration as { downtimeMs: unknown }).downtimeMs).toBeNull();
    expect(await status("b")).toBe("missing"); // not created in the runtime: nothing runs
    expect((await ok("b", `sha256sum ${bundle}/upper/data/blob | cut -d' ' -f1`)).trim()).toBe(data);
    expect((await sshRun(vm("a"), `test -e ${bundle}`)).exitCode).not.toBe(0);
  }, 600_000);

  it("live with runc on both VMs: a counting container on a Network goes on counting on B, the same process (its token and count in memory), in its declared cgroup, with its address on B's network, reaching B's gateway, its listener answering from B's host; nothing left on A", async () => {
    const began = Date.now();
    const live = new TestStack("test/fixtures/programs", {
      program: "dist/test/fixtures/programs/migrate/index.js",
      config: {
        "kslice:aPrefix": prefix,
        "kslice:bPrefix": prefix,
        "kslice:plainHosts": "true",
        "kslice:runtime": "runc",
        "kslice:counter": "true",
        "kslice:name": "counter",
        "kslice:migration": "live",
        // the first stack's network and port stay declared on this prefix: a network and port of its own
        "kslice:network": "true",
        "kslice:netName": "lnet",
        "kslice:subnet": "10.234.8.0/24",
        "kslice:hostPort": "18342",
        "kslice:aSshPort": String(vm("a").ssh.port),
        "kslice:aHostKey": vm("a").ssh.hostKey,
        "kslice:bSshPort": String(vm("b").ssh.port),
        "kslice:bHostKey": vm("b").ssh.hostKey,
      },
    });
    live.secrets["kslice:privateKey"] = vm("a").ssh.privateKey;
    const runc = `runc --root /run/${prefix}/runtime`;
    const count = async (k: "a" | "b") => {
      const r = await sshRun(
        vm(k),
        `${runc} exec counter cat /count 2>&1 || { ${runc} list; ${rt} list; tail -n 5 /var/lib/${prefix}/containers/counter/log; exit 1; }`,
      );
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const [token, n] = r.stdout.trim().split(" ");
      return { token, n: Number(n) };
    };
    try {
      Object.assign(live.config, { "kslice:at": "a" });
      const made = await live.run("up");
      expect(made.ok, made.stderr).toBe(true);
      const created = Date.now();
      await new Promise((r) => setTimeout(r, 3000));
      const before = await count("a");
      expect(before.n).toBeGreaterThan(0);
      const pidA = (await ok("a", `${runc} state counter | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$'`)).trim();
      const inCounter = (k: "a" | "b", script: string) => ok(k, `${runc} exec counter sh -c ${q(script)}`);
      // its server, started once by the init: the same pid in its namespace after the move means the same process
      const httpdA = (await inCounter("a", "pidof httpd")).trim();
      expect(httpdA).toMatch(/^\d+$/);
      const addressA = made.json!.outputs.address as string;
      expect(addressA).toMatch(/^10\.234\.8\.\d+$/);
      expect((await ok("a", `timeout 5 busybox wget -q -O - http://${addressA}/t`)).trim()).toBe(before.token);

      Object.assign(live.config, { "kslice:at": "b" });
      const moved = await live.run("up");
      expect(moved.ok, moved.stderr).toBe(true);
      expect(moved.stderr).toContain(`container counter will migrate from ${target("a")} to ${target("b")} (live)`);
      const m = moved.json!.outputs.lastMigration as {
        mode: string;
        downtimeMs: number;
        imageBytes: { pre: number; final: number };
        preDumps: { pages: number; images: number }[];
      };
      expect(m.mode).toBe("live");
      expect(m.downtimeMs).toBeGreaterThan(0);
      expect(m.imageBytes.pre).toBeGreaterThan(0);
      // pre-dump rounds: the first holds its whole memory, each next one the pages written meanwhile;
      // another round ran while they shrank, three at most
      const rounds = m.preDumps;
      expect(rounds.length).toBeGreaterThanOrEqual(2);
      expect(rounds.length).toBeLessThanOrEqual(3);
      expect(rounds[0]!.pages).toBeGreaterThan(0);
      for (let i = 1; i < rounds.length - 1; i++) expect(rounds[i]!.pages).toBeLessThan(rounds[i - 1]!.pages);
      const [prev, last] = [rounds[rounds.length - 2]!, rounds[rounds.length - 1]!];
      if (rounds.length < 3) expect(last.pages === 0 || last.pages >= prev.pages, JSON.stringify(rounds)).toBe(true);
      expect(m.imageBytes.pre).toBe(rounds.reduce((n, r) => n + r.images, 0));
      expect(moved.stderr).toMatch(new RegExp(`pre-dump ${rounds.length} on .* while it ran`));
      const after = await count("b");
      // the same process: its token (drawn once, in memory) and its count going on from where it was
      expect(after.token).toBe(before.token);
      expect(after.n).toBeGreaterThan(before.n);
      expect(await status("b")).toBe("missing"); // crun's root holds nothing: the runc container is the one
      expect((await ok("b", `${runc} state counter`)).replace(/\s/g, "")).toContain('"status":"running"');
      // the init is pid 1 of its namespace still, the counting shell, in the declared cgroup with its limits
      expect((await ok("b", `${runc} exec counter cat /proc/1/cmdline | tr '\\0' ' '`)).trim()).toMatch(/^sh -c .*\$RANDOM/);
      const pidB = (await ok("b", `${runc} state counter | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$'`)).trim();
      expect((await ok("b", `cat /proc/${pidB}/cgroup`)).trim()).toBe(`0::/${prefix}/counter`);
      expect((await ok("b", `cat /sys/fs/cgroup/${prefix}/counter/memory.max`)).trim()).toBe(String(96 * 2 ** 20));
      // its output reaches B's log through the new pipe, and counts on from there
      await new Promise((r) => setTimeout(r, 1000));
      const logged = Number((await ok("b", `tail -n 1 /var/lib/${prefix}/containers/counter/log`)).trim());
      expect(logged).toBeGreaterThan(before.n);
      // on B's network: its address there (restored into an empty namespace, attached as a start does), its default route
      // through B's gateway, which answers; its listener (the same httpd) answers from B's host, directly and on the published port, and on its own loopback
      const address = moved.json!.outputs.address as string;
      expect(address).toMatch(/^10\.234\.8\.\d+$/);
      expect((await inCounter("b", "ip -o -4 addr show dev eth0")).trim()).toContain(` ${address}/24 `);
      expect((await inCounter("b", "ip route show default")).trim()).toMatch(/^default via 10\.234\.8\.1 dev eth0/);
      expect(await inCounter("b", "ping -c 1 -W 5 10.234.8.1 >/dev/null && echo reached")).toContain("reached");
      expect((await inCounter("b", "pidof httpd")).trim()).toBe(httpdA);
      expect((await ok("b", `timeout 5 busybox wget -q -O - http://${address}/t`)).trim()).toBe(before.token);
      expect((await ok("b", "timeout 5 busybox wget -q -O - http://127.0.0.1:18342/t")).trim()).toBe(before.token);
      expect((await inCounter("b", "timeout 5 wget -q -O - http://127.0.0.1/t")).trim()).toBe(before.token);
      // its veth on B's bridge, its anti-spoofing element and its published port's rule on B
      expect(await ok("b", `grep -h '^${prefix}/container/counter/' /sys/class/net/*/ifalias`)).toContain(`${prefix}/container/counter/lnet`);
      expect(await ok("b", `nft list set bridge ${prefix} ip4`)).toContain(` . ${address}`);
      expect(await ok("b", `nft list table ip ${prefix} | grep -c 'dport 18342'`)).not.toBe("0");
      // nothing of it on A: no runtime state, bundle, cgroup, init or log writer; no veth, address claim, port or nft element
      const leftOnA = await ok(
        "a",
        [
          `ls /var/lib/${prefix}/containers /run/${prefix}/runtime; ls -d /sys/fs/cgroup/${prefix}/counter; [ -d /proc/${pidA} ] && echo init ${pidA} lives; pgrep -a tee`,
          `grep -h '^${prefix}/container/counter' /sys/class/net/*/ifalias`,
          // claims: a port file named after the container, an address file holding its name
          `ls /var/lib/${prefix}/ports; grep -rx counter /var/lib/${prefix}/networks/*/addresses`,
          `nft list set bridge ${prefix} ip4 | grep -F ' . ${addressA}'`,
          `nft list table ip ${prefix} | grep -F 'dport 18342'`,
          `true`,
        ].join("; "),
      );
      expect(leftOnA).not.toMatch(/counter|lives|18342|\. 10\.234\.8\./);
      console.log(
        `live migration between lab VMs: downtime ${m.downtimeMs} ms, images ${m.imageBytes.pre} bytes pre-dumped (rounds ${JSON.stringify(rounds)}) and ${m.imageBytes.final} final; count ${before.n} before, ${after.n} after; ${/migrated from .*$/m.exec(moved.stderr)?.[0] ?? ""}; up ${((Date.now() - created) / 1000).toFixed(1)} s; test ${((Date.now() - began) / 1000).toFixed(1)} s before destroy`,
      );
      const d = await live.run("destroy");
      expect(d.ok, d.stderr).toBe(true);
    } finally {
      await live.dispose();
    }
  }, 600_000);

  it("destroy leaves nothing named after the prefix on either VM", async () => {
    const d = await stack!.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    const half = Math.floor(prefix.length / 2);
    for (const k of ["a", "b"] as const) {
      const leaks = await ok(
        k,
        [
          `P='${prefix.slice(0, half)}''${prefix.slice(half)}'`,
          `find /sys/fs/cgroup /run /var/lib -name "*$P*" 2>/dev/null`,
          `grep -l "^$P" /sys/class/net/*/ifalias 2>/dev/null`,
          `nft list tables 2>/dev/null | grep -F "$P"`,
          `true`,
        ].join("\n"),
      );
      expect(leaks, `left on ${k}`).toBe("");
    }
  }, 300_000);
});
