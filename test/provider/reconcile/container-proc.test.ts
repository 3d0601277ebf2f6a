import { describe, expect, it } from "vitest";
import { ociSpec, specBeforeProcViews, type SpecContext } from "../../../provider/kernel/container/oci-spec";
import { procViewFiles } from "../../../provider/kernel/container/lxcfs";
import { procViewsAdmission, procViewsRestart, procViewsStale } from "../../../provider/reconcile/container/proc";
import { containerArgs } from "../../../schema/container";

const args = (extra: Record<string, unknown> = {}) =>
  containerArgs.parse({ host: { connection: { type: "local" } }, name: "web", command: ["sleep", "1"], ...extra });
const ctx: SpecContext = {
  cgroupsPath: "/k/web",
  cgroupVersion: 1,
  nofileHard: 4096,
  etc: { resolvConf: "/b/resolv.conf", hosts: "/b/hosts", hostname: "/b/hostname" },
};
type Mount = { destination: string; source: string; options?: string[] };

describe("the container's /proc views", () => {
  it("are on by default, and bind every view read-only from the lxcfs mount after /proc and /sys", () => {
    expect(args().procViews).toBe(true);
    const mounts = ociSpec(args(), { ...ctx, lxcfs: "/run/k/lxcfs" }).mounts as Mount[];
    const views = mounts.filter((m) => procViewFiles.includes(m.destination));
    expect(views.map((m) => [m.destination, m.source])).toEqual(procViewFiles.map((f) => [f, `/run/k/lxcfs${f}`]));
    for (const m of views) expect(m.options).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
    const index = (d: string) => mounts.findIndex((m) => m.destination === d);
    expect(index("/proc/meminfo")).toBeGreaterThan(index("/proc"));
    expect(index("/sys/devices/system/cpu/online")).toBeGreaterThan(index("/sys"));
  });

  it("a spec without them is the same declaration for a container made before them", () => {
    const spec = ociSpec(args(), { ...ctx, lxcfs: "/run/k/lxcfs" });
    expect(specBeforeProcViews(spec)).toEqual(ociSpec(args(), ctx));
    expect(specBeforeProcViews(ociSpec(args(), ctx))).toBeUndefined();
  });

  it("are stale when a live init's /proc/uptime cannot be read, and restart on that or a change", () => {
    expect(procViewsStale(args(), "Name: sleep", undefined)).toBe(true);
    expect(procViewsStale(args(), "Name: sleep", "12.3 4.5")).toBe(false);
    // the init itself is gone: not a view's fault
    expect(procViewsStale(args(), undefined, undefined)).toBe(false);
    expect(procViewsStale(args({ procViews: false }), "Name: sleep", undefined)).toBe(false);
    expect(procViewsRestart(args(), args({ procViews: false }), {})).toBe(true);
    expect(procViewsRestart(args(), args(), { procViewsStale: true })).toBe(true);
    expect(procViewsRestart(args(), args(), { procViewsStale: false })).toBe(false);
  });

  it("need lxcfs on the host, tested at preview only when on", () => {
    expect(procViewsAdmission(args())).toEqual([expect.objectContaining({ property: "procViews", path: "/usr/bin/lxcfs", got: "true" })]);
    expect(procViewsAdmission(args({ procViews: false }))).toEqual([]);
  });
});
