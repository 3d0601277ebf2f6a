// Backup on one cgroup v2 guest (crun), restore on the other (issue 29 item 3): `kslice backup`
// over --ssh of a running user-namespaced container, the file carried to the second guest, the
// source destroyed, and a Container made there from the file sees the same data and owners.
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import { closeAllTransports, openTransport } from "../../provider/transport/open";
import { pipeHosts } from "../../provider/transport/stream";
import { shellQuote as q } from "../../provider/transport/transport";
import { kslice } from "../helpers/cli";
import { leaksOnGuests, sshConnection, sshRun, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";

const prefix = `${testPrefix}-lbak`;
const rt = `crun --root /run/${prefix}/runtime`;
const file = `/root/${prefix}-box.kbak`;

describe("a backup taken on one guest restores on the other", () => {
  const lab = useLab(2, { bootTimeoutMs: 300_000 });
  const vm = (k: "a" | "b"): LabHost => lab().hosts[k === "a" ? 0 : 1]!;
  const host = (k: "a" | "b") => ({ connection: sshConnection(vm(k)), prefix });
  async function ok(k: "a" | "b", command: string): Promise<string> {
    const r = await sshRun(vm(k), command, undefined, { timeoutMs: 120_000 });
    expect(r.exitCode, `${command}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }
  const inside = (k: "a" | "b", script: string) => ok(k, `${rt} exec box sh -c ${q(script)}`);
  const view = "cd /data && sha256sum blob && stat -c '%n %u:%g %a' . blob owned";
  const box = { name: "box", command: ["sleep", "3600"], security: { userNamespace: true }, stopGraceSeconds: 1 };

  afterAll(async () => {
    try {
      vm("a");
    } catch {
      return; // the lab did not boot: nothing was made
    }
    try {
      for (const k of ["a", "b"] as const) {
        await C.delete("", { host: host(k), ...box }).catch(() => undefined);
        await hostLifecycle.delete("", { ...host(k), runtime: "auto" }).catch(() => undefined);
        await sshRun(vm(k), `rm -f ${file}`);
      }
      expect(await leaksOnGuests([vm("a"), vm("b")], prefix)).toEqual([]);
    } finally {
      await closeAllTransports();
    }
  }, 300_000);

  it("kslice backup on A, the file carried to B, the source destroyed: a Container from the file on B has the same files and owners", async () => {
    const made = await C.check({}, { host: host("a"), ...box });
    expect(made.failures).toBeUndefined();
    const src = await C.create(made.inputs!);
    const seen = await inside(
      "a",
      `mkdir /data && head -c 8388608 /dev/urandom > /data/blob && touch /data/owned && chown 1000:1001 /data/owned && chmod 640 /data/owned && ${view}`,
    );

    const a = vm("a").ssh;
    const r = await kslice(
      ["--ssh", `${a.user}@${a.host}:${a.port}`, "--key", a.privateKeyPath, "--host-key", a.hostKey, "--prefix", prefix, "backup", "box", "--out", file],
      180_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/box backed up to .*: \d+ bytes, sha256 [0-9a-f]{64}, frozen \d+ ms/);
    expect((await ok("a", `${rt} state box`)).replace(/\s/g, "")).toContain(`"status":"running"`);

    // carried through this process, as a migration's layer is
    const transport = (k: "a" | "b") => openTransport({ ...sshConnection(vm(k)), insecureIgnoreHostKey: false, connectTimeoutSeconds: 30 });
    const piped = await pipeHosts(transport("a"), ["cat", file], transport("b"), ["sh", "-c", `cat > ${file}`], { timeoutMs: 120_000 });
    expect(piped.to.exitCode, piped.to.stderr).toBe(0);
    expect((await ok("b", `sha256sum < ${file}`)).split(" ")[0]).toBe(r.stdout.match(/sha256 ([0-9a-f]{64})/)![1]);
    await C.delete(src.id, src.outs!);

    const restored = await C.check({}, { host: host("b"), ...box, rootfs: { backup: { file } } });
    expect(restored.failures).toBeUndefined();
    await C.create(restored.inputs!);
    expect(await inside("b", view)).toBe(seen);
  });
});
