// The seccomp allow-list on a cgroup v2 host with crun (the build machines run runc): the same
// static probe as test/provider/reconcile/container-seccomp.kernel.test.ts, copied into one lab
// VM, bind-mounted into containers made through kslice's SSH transport and run with crun exec.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import type { Props } from "../../provider/reconcile/provider-types";
import { closeAllTransports } from "../../provider/transport/open";
import { shellQuote as q } from "../../provider/transport/transport";
import { sshConnection, sshRun, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { allowed, buildSeccompProbe, onlySeccompRefuses, probeResults, refused } from "../helpers/seccomp-probe";

const prefix = `${testPrefix}-lsc`;
const runtimeRoot = `/run/${prefix}/runtime`;
/** Where the probe lives on the VM; removed at the end. */
const probeDir = `/root/${prefix}-probe`;
const boxes: Record<string, Props> = {
  filtered: {},
  unconfined: { seccomp: "unconfined" },
  sysadmin: { capAdd: ["SYS_ADMIN"] },
};

describe("the seccomp allow-list on a cgroup v2 host (crun), attacked from inside containers", () => {
  // TCG on a shared 2-core machine: sshd can take minutes to answer under load.
  const lab = useLab(1, { bootTimeoutMs: 300_000 });
  const vm = (): LabHost => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  const declared = (name: string) => ({
    host: host(),
    name,
    command: ["sleep", "600"],
    stopGraceSeconds: 1,
    mounts: [{ type: "bind", source: probeDir, target: "/probe" }],
    security: boxes[name],
  });
  const ok = async (command: string, input?: string) => {
    const r = await sshRun(vm(), command, input, { timeoutMs: 120_000 });
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const pids: Record<string, number> = {};
  const attack = async (name: string, attacks: string[]) =>
    probeResults(await ok(`crun --root ${runtimeRoot} exec ${name} /probe/seccomp ${attacks.join(" ")}`));
  const seccompMode = async (name: string) => /Seccomp:\s+(\d)/.exec(await ok(`cat /proc/${pids[name]}/status`))![1];

  beforeAll(async () => {
    const probe = buildSeccompProbe();
    try {
      await ok(
        `mkdir -p ${q(probeDir)} && base64 -d > ${q(probeDir)}/seccomp && chmod 755 ${q(probeDir)}/seccomp`,
        readFileSync(probe.path).toString("base64"),
      );
    } finally {
      probe.remove();
    }
    for (const name of Object.keys(boxes)) {
      const c = await C.check({}, declared(name));
      expect(c.failures).toBeUndefined();
      pids[name] = (await C.create(c.inputs!)).outs!.pid as number;
    }
  }, 300_000);

  // Best effort after a failure; the last test deletes everything itself and checks nothing is left.
  afterAll(async () => {
    try {
      vm();
    } catch {
      return; // the lab did not boot: nothing was made
    }
    try {
      for (const name of Object.keys(boxes)) await C.delete("", declared(name)).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
      await sshRun(vm(), `rm -rf ${q(probeDir)}`).catch(() => undefined);
    } finally {
      await closeAllTransports();
    }
  });

  it("runs crun", async () => {
    const { outs } = await hostLifecycle.create((await hostLifecycle.check({}, { ...host(), runtime: "auto" })).inputs!);
    expect(outs).toMatchObject({ cgroupMode: "unified", runtimeName: "crun" });
  });

  it("a default container refuses every dangerous class: EPERM, and ENOSYS for clone3", async () => {
    expect(await seccompMode("filtered")).toBe("2");
    expect(await attack("filtered", Object.keys(refused))).toEqual(refused);
  });

  it("a default container still forks, clones without namespace flags and makes FIFOs", async () => {
    expect(await attack("filtered", allowed)).toEqual(Object.fromEntries(allowed.map((a) => [a, "OK"])));
  });

  it('security.seccomp: "unconfined" has no filter: what only seccomp refused succeeds', async () => {
    expect(await seccompMode("unconfined")).toBe("0");
    expect(await attack("unconfined", onlySeccompRefuses)).toEqual(Object.fromEntries(onlySeccompRefuses.map((a) => [a, "OK"])));
  });

  it("capAdd SYS_ADMIN relaxes what Docker relaxes for it, and nothing else", async () => {
    expect(await seccompMode("sysadmin")).toBe("2");
    const relaxed = ["clone-ns", "clone3", "clone3-ns", "unshare-net", "mount"];
    expect(await attack("sysadmin", relaxed)).toEqual(Object.fromEntries(relaxed.map((a) => [a, "OK"])));
    const still = ["io_uring", "keyctl", "add_key", "userfaultfd", "mknod-chr", "kexec"];
    expect(await attack("sysadmin", still)).toEqual(Object.fromEntries(still.map((a) => [a, "EPERM"])));
  });

  it("deletes everything, and leaves nothing named after the prefix on the host", async () => {
    for (const name of Object.keys(boxes)) await C.delete("", declared(name));
    await hostLifecycle.delete("", { ...host(), runtime: "auto" });
    await ok(`rm -rf ${q(probeDir)}`);
    // The prefix is spelt in two quoted halves, so this very command line does not match itself.
    const half = Math.floor(prefix.length / 2);
    const leaks = await ok(
      [
        `P='${prefix.slice(0, half)}''${prefix.slice(half)}'`,
        `find /sys/fs/cgroup /run /var/lib /root -name "*$P*" 2>/dev/null`,
        `grep -F "$P" /proc/mounts`,
        `true`,
      ].join("\n"),
    );
    expect(leaks).toBe("");
  });
});
