// User-namespace ranges and recursive read-only binds on a cgroup v2 host with crun (one lab VM,
// reached through kslice's own SSH transport; the test reads the kernel over a separate ssh).
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import type { Props } from "../../provider/reconcile/provider-types";
import { closeAllTransports } from "../../provider/transport/open";
import { shellQuote as q } from "../../provider/transport/transport";
import { sshConnection, sshRun, useLab } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";

const prefix = `${testPrefix}-lun`;
const src = `/tmp/${prefix}-src`;

describe("user namespaces and read-only binds on cgroup v2 (crun)", () => {
  const lab = useLab(1);
  const vm = () => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  const made: Props[] = [];
  const sh = async (command: string) => (await sshRun(vm(), command)).stdout;
  const exec = (name: string, script: string) => sh(`crun --root /run/${prefix}/runtime exec ${name} sh -c ${q(script)} 2>&1; echo "rc=$?"`);

  async function create(args: Props): Promise<Props | { failures: unknown }> {
    const c = await C.check({}, { host: host(), stopGraceSeconds: 1, command: ["sleep", "600"], ...args });
    if (c.failures) return { failures: c.failures };
    const r = await C.create(c.inputs!);
    made.push(r.outs!);
    return r.outs!;
  }

  afterAll(async () => {
    try {
      for (const o of made.reverse()) await C.delete("", o).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
      await sh(`mountpoint -q ${src}/sub && umount ${src}/sub; rm -rf ${src}`).catch(() => undefined);
    } finally {
      await closeAllTransports();
    }
  });

  it("gives a user-namespaced container its claimed range, and a read-only /sys/fs/cgroup", async () => {
    const outs = (await create({ name: "Aa", security: { userNamespace: true } })) as Props;
    const map = (await sh(`cat /proc/${outs.pid}/uid_map`)).trim().split(/\s+/).map(Number);
    const claim = (await sh(`grep -rlx Aa /var/lib/${prefix}/uid-ranges`)).trim();
    const index = Number(claim.slice(claim.lastIndexOf("/") + 1));
    expect(map).toEqual([0, 2 ** 20 + index * 65536, 65536]);
    expect(await exec("Aa", "touch /written && id -u && touch /sys/fs/cgroup/x")).toMatch(/^0\n.*Read-only file system\nrc=1/m);
  });

  it("makes a read-only bind recursive (crun 1.8 takes rro): a write into its submount fails", async () => {
    await sh(`mkdir -p ${src}/sub && mount -t tmpfs -o size=1m tmpfs ${src}/sub`);
    const r = await create({ name: "robind", mounts: [{ type: "bind", source: src, target: "/data" }] });
    expect(r).not.toHaveProperty("failures");
    expect(await sh(`grep -c '"rro"' /var/lib/${prefix}/containers/robind/config.json`)).toBe("1\n");
    expect(await exec("robind", "touch /data/sub/x")).toMatch(/Read-only file system\nrc=1/);
    expect((await sh(`ls -A ${src}/sub`)).trim()).toBe("");
  });

  it("deletes everything: the range claims go with the containers", async () => {
    for (const o of made.splice(0).reverse()) await C.delete("", o);
    await hostLifecycle.delete("", { ...host(), runtime: "auto" });
    expect((await sh(`ls -d /var/lib/${prefix} /run/${prefix} 2>/dev/null; grep -F /var/lib/${prefix} /proc/mounts; true`)).trim()).toBe("");
  });
});
