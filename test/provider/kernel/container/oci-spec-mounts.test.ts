import { describe, expect, it } from "vitest";
import { ociSpec, specBeforeHostname, type SpecContext } from "../../../../provider/kernel/container/oci-spec";
import { recursiveReadOnly } from "../../../../provider/kernel/host-facts";
import { containerArgs } from "../../../../schema/container";

const args = (extra: Record<string, unknown> = {}) =>
  containerArgs.parse({ host: { connection: { type: "local" } }, name: "web", command: ["sleep", "1"], ...extra });
const ctx: SpecContext = {
  cgroupsPath: "/k/web",
  cgroupVersion: 1,
  nofileHard: 4096,
  etc: { resolvConf: "/b/resolv.conf", hosts: "/b/hosts", hostname: "/b/hostname" },
};
type Mount = { destination: string; type: string; options?: string[] };
const mounts = (spec: Record<string, unknown>) => spec.mounts as Mount[];
const at = (spec: Record<string, unknown>, dest: string) => mounts(spec).filter((m) => m.destination === dest);

describe("the OCI spec's user-namespace and mount parts", () => {
  it("maps a user-namespaced container to its claimed range, and refuses to guess one", () => {
    const spec = ociSpec(args({ security: { userNamespace: true } }), { ...ctx, userNamespaceBase: 2 ** 20 + 3 * 65536 });
    const linux = spec.linux as Record<string, unknown>;
    expect(linux.uidMappings).toEqual([{ containerID: 0, hostID: 2 ** 20 + 3 * 65536, size: 65536 }]);
    expect(linux.gidMappings).toEqual(linux.uidMappings);
    expect(() => ociSpec(args({ security: { userNamespace: true } }), ctx)).toThrow(/no user-namespace range/);
  });

  it("puts a read-only tmpfs at /sys/fs/cgroup for a user-namespaced container on v1, the read-only cgroup mount elsewhere", () => {
    const v1 = at(ociSpec(args({ security: { userNamespace: true } }), { ...ctx, userNamespaceBase: 2 ** 20 }), "/sys/fs/cgroup");
    expect(v1).toEqual([expect.objectContaining({ type: "tmpfs", options: expect.arrayContaining(["ro"]) })]);
    const v2 = at(ociSpec(args({ security: { userNamespace: true } }), { ...ctx, cgroupVersion: 2, userNamespaceBase: 2 ** 20 }), "/sys/fs/cgroup");
    expect(v2).toEqual([expect.objectContaining({ type: "cgroup", options: expect.arrayContaining(["ro"]) })]);
    expect(at(ociSpec(args(), ctx), "/sys/fs/cgroup")).toEqual([expect.objectContaining({ type: "cgroup" })]);
  });

  it("makes read-only binds recursive where the host can, and leaves writable ones alone", () => {
    const a = args({
      mounts: [
        { type: "bind", source: "/srv", target: "/srv" },
        { type: "bind", source: "/w", target: "/w", readOnly: false },
      ],
    });
    expect(at(ociSpec(a, { ...ctx, recursiveReadOnly: true }), "/srv")[0]!.options).toContain("rro");
    expect(at(ociSpec(a, ctx), "/srv")[0]!.options).toContain("ro");
    expect(at(ociSpec(a, { ...ctx, recursiveReadOnly: true }), "/w")[0]!.options).toContain("rw");
  });

  it("takes rro from runc 1.1 and crun 1.4 on, with a kernel that has mount_setattr (5.12)", () => {
    const host = (name: "runc" | "crun", version: string, kernelRelease: string) => ({
      runtimes: [{ name, path: `/usr/bin/${name}`, version }],
      kernelRelease,
    });
    expect(recursiveReadOnly(host("runc", "1.1.5+ds1", "6.18.44-fc"), "runc")).toBe(true);
    expect(recursiveReadOnly(host("runc", "1.0.3", "6.18.44-fc"), "runc")).toBe(false);
    expect(recursiveReadOnly(host("crun", "1.8.1", "6.1.0-27-amd64"), "crun")).toBe(true);
    expect(recursiveReadOnly(host("crun", "1.8.1", "5.10.0-30-amd64"), "crun")).toBe(false);
    expect(recursiveReadOnly(host("crun", "1.3", "6.1.0"), "crun")).toBe(false);
    expect(recursiveReadOnly(host("runc", "1.1.5", "6.1.0"), "crun")).toBe(false);
  });

  it("mounts /etc/resolv.conf, /etc/hosts and /etc/hostname read-only from the bundle, for every container", () => {
    for (const dest of ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"]) {
      expect(at(ociSpec(args(), ctx), dest)).toEqual([expect.objectContaining({ type: "bind", options: expect.arrayContaining(["ro"]) })]);
    }
    expect(at(ociSpec(args(), ctx), "/etc/hostname")[0]).toMatchObject({ source: "/b/hostname" });
  });

  it("hands declared sysctls to the runtime, and holds no sysctl key without them", () => {
    const linux = (spec: Record<string, unknown>) => spec.linux as Record<string, unknown>;
    expect(linux(ociSpec(args({ sysctls: { "net.core.somaxconn": "1024" } }), ctx)).sysctl).toEqual({ "net.core.somaxconn": "1024" });
    expect("sysctl" in linux(ociSpec(args(), ctx))).toBe(false);
  });

  it("gives the spec as written before /etc/hostname, for containers made then (no sysctls: they could not have any)", () => {
    const before = specBeforeHostname(ociSpec(args(), ctx))!;
    expect(at(before, "/etc/hostname")).toEqual([]);
    expect(mounts(before).length).toBe(mounts(ociSpec(args(), ctx)).length - 1);
    expect(specBeforeHostname(ociSpec(args({ sysctls: { "kernel.shmmax": "1" } }), ctx))).toBeUndefined();
  });
});
