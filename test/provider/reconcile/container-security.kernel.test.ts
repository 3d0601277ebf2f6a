import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Containers } from "../../helpers/containers";
import { localCgroupFile, localV2 } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { alive, asNobody, sleep } from "../../helpers/procs";

const prefix = `${testPrefix}-sec`;
const cs = new Containers(prefix);

describe("a default container is isolated (this host's runtime and cgroup mode)", () => {
  let pid = 0;
  beforeAll(async () => {
    const r = await cs.create("box", { command: ["sleep", "600"], limits: { pids: { max: 64 } } });
    pid = r.outs.pid as number;
  });
  afterAll(async () => {
    await cs.cleanup();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("sees only its own processes", async () => {
    const r = await cs.exec("box", "ls -d /proc/[0-9]* | wc -l; cat /proc/1/cmdline | tr '\\0' ' '");
    const [count, init] = r.out.trim().split("\n");
    expect(Number(count)).toBeLessThanOrEqual(4); // init, sh, ls, wc
    expect(init!.trim()).toBe("sleep 600");
  });

  it("cannot write /proc/sys or /sys", async () => {
    expect((await cs.exec("box", "echo 1 > /proc/sys/kernel/domainname")).code).not.toBe(0);
    expect((await cs.exec("box", "echo x > /sys/kernel/uevent_helper")).code).not.toBe(0);
    expect((await cs.exec("box", "touch /sys/kslice-test")).code).not.toBe(0);
  });

  it("cannot mount, load modules or create device nodes", async () => {
    const m = await cs.exec("box", "mkdir -p /mnt && mount -t tmpfs none /mnt");
    expect(m.code).not.toBe(0);
    expect(m.out).toMatch(/permission denied|not permitted/i);
    const mod = await cs.exec("box", "echo x > /tmp/m.ko && insmod /tmp/m.ko");
    expect(mod.code).not.toBe(0);
    expect(mod.out).toMatch(/not permitted|permission denied/i);
    const dev = await cs.exec("box", "mknod /tmp/sda b 8 0");
    expect(dev.code).not.toBe(0);
  });

  it("cannot raise its own cgroup limits", async () => {
    // its own cgroup as the container sees it (v2: the namespace's root; v1: the pids hierarchy)
    const r = await cs.exec("box", `echo max > ${localV2() ? "/sys/fs/cgroup/pids.max" : "/sys/fs/cgroup/pids/pids.max"}`);
    expect(r.code).not.toBe(0);
    expect(readFileSync(localCgroupFile(prefix, "box", "pids.max"), "utf8").trim()).toBe("64");
  });

  it("runs with Docker's 14 capabilities and no_new_privs", async () => {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(status)![1]}`);
    expect(
      capEff
        .toString(2)
        .split("")
        .filter((b) => b === "1").length,
    ).toBe(14);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect(status).toMatch(/Seccomp:\s+2/);
  });
});

describe("resource limits hold inside containers", () => {
  const rs = new Containers(`${testPrefix}-res`);
  afterAll(async () => {
    await rs.cleanup();
    expect(leaksOf(`${testPrefix}-res`)).toEqual([]);
  });

  it("a fork bomb stops at pids.max", async () => {
    await rs.create("forky", { command: ["sleep", "600"], limits: { pids: { max: 20 } } });
    const r = await rs.exec(
      "forky",
      "i=0; while [ $i -lt 60 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done 2>/dev/null; sleep 0.5; ls -d /proc/[0-9]* | wc -l",
    );
    expect(Number(r.out.trim().split("\n").pop())).toBeLessThanOrEqual(20);
    const events = readFileSync(localCgroupFile(`${testPrefix}-res`, "forky", "pids.events"), "utf8");
    expect(Number(/max (\d+)/.exec(events)![1])).toBeGreaterThan(0);
  });

  it("a memory hog is OOM-killed inside its container while its neighbour and the host run on", async () => {
    const neighbour = await rs.create("calm", { command: ["sleep", "600"] });
    await rs.create("hog", { command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 600"], limits: { memory: { max: "32Mi" } } });
    await sleep(2500);
    // v1 counts it in memory.oom_control, v2 in memory.events
    const oom = readFileSync(localCgroupFile(`${testPrefix}-res`, "hog", localV2() ? "memory.events" : "memory.oom_control"), "utf8");
    expect(Number(/^oom_kill (\d+)/m.exec(oom)![1])).toBeGreaterThan(0);
    expect(alive(neighbour.outs.pid as number)).toBe(true);
    expect(alive(process.pid)).toBe(true);
  });
});

describe("a user-namespaced container", () => {
  const us = new Containers(`${testPrefix}-usr`);
  afterAll(async () => {
    await us.cleanup();
    expect(leaksOf(`${testPrefix}-usr`)).toEqual([]);
  });

  it("is root inside and an unprivileged uid on the host", async () => {
    const r = await us.create("mapped", { command: ["sleep", "600"], security: { userNamespace: true } });
    const inside = await us.exec("mapped", "id -u; cat /proc/self/uid_map");
    expect(inside.out.trim().split("\n")[0]).toBe("0");
    const hostUid = Number(/Uid:\s+(\d+)/.exec(readFileSync(`/proc/${r.outs.pid}/status`, "utf8"))![1]);
    expect(hostUid).toBeGreaterThanOrEqual(2 ** 20);
  });

  it("keeps its bundle from other host users while its own root reaches its rootfs", async () => {
    const r = await us.create("closed", {
      command: ["sh", "-c", "echo private > /data; exec sleep 600"],
      security: { userNamespace: true },
      stopGraceSeconds: 1,
    });
    await sleep(300);
    const bundle = r.outs.bundlePath as string;
    expect(statSync(bundle).mode & 0o777).toBe(0o710);
    for (const f of ["config.json", "log", "upper/data"]) {
      expect(statSync(join(bundle, f)).isFile()).toBe(true);
      expect(spawnSync("setpriv", [...asNobody, "cat", join(bundle, f)]).status, f).not.toBe(0);
    }
    expect(spawnSync("setpriv", [...asNobody, "ls", join(bundle, "rootfs")]).status).not.toBe(0);
    expect((await us.exec("closed", "cat /data")).out).toBe("private\n");
  });
});
