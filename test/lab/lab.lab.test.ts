import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { leaksOnGuests, useLab } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { run } from "./exec";
import { startLab, sshRun, sweepRuns, type Lab, type LabHost } from "./lab";
import { ensureSnapshot } from "./snapshot";
import { sshOptions } from "./ssh";
import { processStartTicks, runsRoot } from "./runs";

const repoRoot = join(__dirname, "..", "..");

/** Pids of running processes whose command line mentions `text` (zombies excluded). */
function processesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`, "utf8").includes(text) && processStartTicks(Number(n)) !== undefined;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function report(lab: Lab): void {
  for (const h of lab.hosts) {
    console.log(`[lab] ${h.name}: boot-to-SSH ${h.bootSeconds.toFixed(1)}s, QEMU RSS ${(h.memoryKiB / 1024).toFixed(0)} MiB`);
  }
}

/** Runs a command on the host and fails the test with its stderr unless it exits 0. */
async function ok(host: LabHost, command: string, input?: string): Promise<string> {
  const r = await sshRun(host, command, input);
  expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

// Kept so that the last suite can check that useLab's afterAll left nothing behind.
let firstLab: { dir: string; pids: number[] } | undefined;

describe("one lab VM", () => {
  const lab = useLab(1, { own: true }); // the last suite checks what useLab's own boot left

  it("runs cgroup v2 only, with the cpu, memory, pids and io controllers", async () => {
    const l = lab();
    report(l);
    firstLab = { dir: l.dir, pids: l.hosts.map((h) => h.pid) };
    const host = l.hosts[0]!;
    const controllers = (await ok(host, "cat /sys/fs/cgroup/cgroup.controllers")).trim().split(" ");
    expect(controllers).toEqual(expect.arrayContaining(["cpu", "memory", "pids", "io"]));
    expect((await ok(host, "stat -fc %T /sys/fs/cgroup")).trim()).toBe("cgroup2fs");
    // cgroup_no_v1=all: no v1 hierarchy is mounted anywhere.
    expect(await ok(host, "awk '$3 == \"cgroup\"' /proc/mounts")).toBe("");
    expect((await ok(host, "hostname")).trim()).toBe(host.hostname);
  });

  it("lets in only the run's key against the run's host key, checked strictly", async () => {
    const host = lab().hosts[0]!;
    const served = await ok(host, "cat /etc/ssh/ssh_host_ed25519_key.pub");
    expect(served.startsWith(`${host.ssh.hostKey} `)).toBe(true);
    expect(host.ssh.hostKey).toMatch(/^ssh-ed25519 AAAA\S+$/);
    expect(readFileSync(host.ssh.knownHostsPath, "utf8")).toContain(`[127.0.0.1]:${host.ssh.port} ${host.ssh.hostKey}`);
    // A known_hosts entry with another key must make ssh refuse the host.
    const other = join(host.ssh.knownHostsPath, "..", "other-host-key");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other], { timeoutMs: 10_000 });
    const wrong = join(host.ssh.knownHostsPath, "..", "wrong_known_hosts");
    await run("sh", ["-c", `printf '[127.0.0.1]:%s %s\\n' ${host.ssh.port} "$(cut -d' ' -f1,2 ${other}.pub)" > ${wrong}`], { timeoutMs: 5_000 });
    await expect(sshRun({ ssh: { ...host.ssh, knownHostsPath: wrong } }, "true")).rejects.toThrow(/host key verification failed|IDENTIFICATION HAS CHANGED/i);
    // Password logins are off; only keys work.
    expect((await ok(host, "sshd -T | grep -E '^(passwordauthentication|permitrootlogin) '")).trim().split("\n").sort()).toEqual([
      "passwordauthentication no",
      "permitrootlogin without-password",
    ]);
  });

  it("cannot reach the host: only the SSH port forward reaches the VM", async () => {
    const host = lab().hosts[0]!;
    // Without restrict=on, 10.0.2.2:PORT would be the host's forward back to this very sshd.
    const r = await sshRun(host, `timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.2.2/${host.ssh.port}' && echo connected`);
    expect(r.stdout).not.toContain("connected");
    expect(r.exitCode).not.toBe(0);
  });

  it("runs a crun container from a busybox bundle in a cgroup v2 with a memory limit", async () => {
    const host = lab().hosts[0]!;
    const bundle = "/tmp/kslice-lab-bundle";
    await ok(host, `rm -rf ${bundle} && mkdir -p ${bundle}/rootfs/bin && cp /bin/busybox ${bundle}/rootfs/bin/busybox && cd ${bundle} && crun spec`);
    const spec = JSON.parse(await ok(host, `cat ${bundle}/config.json`)) as {
      process: { terminal: boolean; args: string[] };
      linux: { cgroupsPath?: string; resources?: { memory?: { limit: number } } };
    };
    spec.process.terminal = false;
    spec.process.args = ["/bin/busybox", "sh", "-c", "echo hello-from-crun; cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max"];
    spec.linux.cgroupsPath = "/kslice-lab/hello";
    spec.linux.resources = { ...spec.linux.resources, memory: { limit: 64 * 1024 * 1024 } };
    await ok(host, `cat > ${bundle}/config.json`, JSON.stringify(spec));
    const out = await ok(host, `crun --root /run/kslice-lab run --bundle ${bundle} hello`);
    const [hello, cgroup, memoryMax] = out.trim().split("\n");
    expect(hello).toBe("hello-from-crun");
    expect(cgroup).toMatch(/^0::\//); // a single v2 hierarchy
    expect(memoryMax).toBe(String(64 * 1024 * 1024));
    // crun removed the container's cgroup; the parent it made is ours to remove.
    expect(await ok(host, "find /sys/fs/cgroup/kslice-lab -mindepth 1 -type d")).toBe("");
    await ok(host, `rmdir /sys/fs/cgroup/kslice-lab && rm -rf ${bundle} /run/kslice-lab`);
  });
});

describe("the tier's shared guests (test/lab/pool.ts)", () => {
  const lab = useLab(2);

  it("are the pool's, booted once: this suite booted none, and cannot kill or reboot them", async (ctx) => {
    const shared = inject("sharedLab");
    if (!shared) return ctx.skip(); // KSLICE_LAB_SHARED=0: every suite boots its own
    expect(lab().hosts.map((h) => h.pid)).toEqual(shared.hosts.map((h) => h.pid));
    for (const h of lab().hosts) expect(processStartTicks(h.pid), `QEMU of ${h.name}`).toBeDefined();
    expect((await ok(lab().hosts[1]!, "hostname")).trim()).toBe("lab-2");
    // the commands share one connection (a master), opened by the first of them
    const h = lab().hosts[1]!;
    expect(h.ssh.mux).toBe(true);
    const master = await run("ssh", [...sshOptions(h.ssh), "-O", "check", h.ssh.host], { timeoutMs: 10_000, allowFailure: true });
    expect(master.exitCode, master.stderr).toBe(0);
    expect(master.stderr).toMatch(/Master running/);
    await expect(lab().kill("lab-1")).rejects.toThrow(/own: true/);
    await expect(lab().boot("lab-1")).rejects.toThrow(/own: true/);
  });

  it("a suite's leftovers under its prefix are found on every guest and removed", async () => {
    const prefix = `${testPrefix}-lpool`;
    const [a, b] = lab().hosts as [LabHost, LabHost];
    await ok(a, `mkdir -p /var/lib/${prefix}/containers/x /sys/fs/cgroup/${prefix}/y`);
    await ok(b, `mkdir -p /run/${prefix}-z`);
    expect((await leaksOnGuests([a, b], prefix)).sort()).toEqual(
      [`lab-1: leak: cgroup /sys/fs/cgroup/${prefix}`, `lab-1: leak: dir /var/lib/${prefix}`, `lab-2: leak: dir /run/${prefix}-z`].sort(),
    );
    expect(await leaksOnGuests([a, b], prefix)).toEqual([]);
    expect(await ok(a, `ls -d /var/lib/${prefix} /sys/fs/cgroup/${prefix} 2>/dev/null; true`)).toBe("");
  });
});

describe("three lab VMs at once", () => {
  it("boot within 512 MiB each, report distinct hostnames, and leave nothing after stop", async () => {
    const lab = await startLab(3, { log: (s) => console.log(s) });
    let stopped = false;
    try {
      report(lab);
      expect(new Set(lab.hosts.map((h) => h.ssh.port)).size).toBe(3);
      const seen = await Promise.all(lab.hosts.map(async (h) => ({ want: h.hostname, got: (await ok(h, "hostname")).trim() })));
      for (const { want, got } of seen) expect(got).toBe(want);
      expect(new Set(seen.map((s) => s.got)).size).toBe(3);
      // restored from one saved guest (unless KSLICE_LAB_SNAPSHOT=0), yet three machines: each its own
      // machine-id and the host's time, and the saved guest's key no longer lets anyone in
      const ids = await Promise.all(
        lab.hosts.map(async (h) => {
          const [id, clock] = (await ok(h, "cat /etc/machine-id; date +%s.%N")).trim().split("\n");
          expect(Math.abs(Number(clock) - Date.now() / 1000), `${h.name}'s clock against this host's`).toBeLessThan(5);
          return id;
        }),
      );
      expect(new Set(ids).size).toBe(3);
      if (process.env.KSLICE_LAB_SNAPSHOT !== "0") {
        expect(lab.hosts.every((h) => h.restored)).toBe(true);
        const saved = await ensureSnapshot(lab.image, { cpus: 1, memoryMiB: 512, accel: "tcg" }, lab.dir, () => {});
        const asSaved = { ssh: { ...lab.hosts[0]!.ssh, privateKeyPath: saved.ssh.privateKeyPath } };
        await expect(sshRun(asSaved, "true")).rejects.toThrow(/Permission denied/);
      }
      for (const h of lab.hosts) {
        const memTotalKiB = Number(/MemTotal:\s+(\d+)/.exec(await ok(h, "cat /proc/meminfo"))?.[1]);
        expect(memTotalKiB).toBeGreaterThan(256 * 1024);
        expect(memTotalKiB).toBeLessThanOrEqual(512 * 1024);
      }
      await lab.stop();
      stopped = true;
      await lab.stop(); // a second stop is a no-op
      for (const h of lab.hosts) expect(processStartTicks(h.pid), `QEMU ${h.pid} of ${h.name}`).toBeUndefined();
      expect(processesMentioning(lab.dir)).toEqual([]);
      expect(existsSync(lab.dir)).toBe(false);
    } finally {
      if (!stopped) await lab.stop();
    }
  }, 300_000);

  it("left nothing of the one-VM suite either (useLab's afterAll)", (ctx) => {
    if (!firstLab) return ctx.skip(); // the one-VM suite was filtered out
    for (const pid of firstLab!.pids) expect(processStartTicks(pid)).toBeUndefined();
    expect(processesMentioning(firstLab!.dir)).toEqual([]);
    expect(existsSync(firstLab!.dir)).toBe(false);
  });
});

describe("a lab whose process is killed", () => {
  it("takes its VM down with it, and the sweep removes its files", async () => {
    const cli = join(repoRoot, "node_modules", "vite-node", "vite-node.mjs");
    const child = spawn(process.execPath, [cli, join(__dirname, "orphan-lab.ts")], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const started = await new Promise<{ dir: string; pid: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`orphan-lab.ts printed nothing in 200s; stderr: ${stderr}`)), 200_000);
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n").find((l) => l.startsWith("{"));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { dir: string; pid: number });
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`orphan-lab.ts exited ${code} before its VM was up; stderr: ${stderr}`));
      });
    });
    expect(processStartTicks(started.pid)).toBeDefined();
    child.kill("SIGKILL");
    // pdeathsig: the kernel kills QEMU as soon as its parent is gone.
    const deadline = Date.now() + 10_000;
    while (processStartTicks(started.pid) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(processStartTicks(started.pid), "QEMU outlived its killed owner").toBeUndefined();
    // Orphaned, it is reaped by init, not by us: give init a moment so no zombie lingers after the run.
    const reaped = Date.now() + 10_000;
    while (existsSync(`/proc/${started.pid}`) && Date.now() < reaped) await new Promise((r) => setTimeout(r, 200));
    // Its files stay until a sweep, which every startLab and `lab.sh down` runs.
    expect(existsSync(started.dir)).toBe(true);
    expect(await sweepRuns()).toContain(started.dir);
    expect(existsSync(started.dir)).toBe(false);
    expect(readdirSync(runsRoot()).filter((n) => started.dir.endsWith(n))).toEqual([]);
  }, 300_000);
});
