import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { allowed, buildSeccompProbe, onlySeccompRefuses, probeResults, refused } from "../../helpers/seccomp-probe";

const prefix = `${testPrefix}-scmp`;
const cs = new Containers(prefix);

describe("the seccomp allow-list, attacked from inside containers (runc, cgroup v1)", () => {
  let probe: ReturnType<typeof buildSeccompProbe>;
  const pids: Record<string, number> = {};
  const box = async (name: string, security: Record<string, unknown>) => {
    const r = await cs.create(name, {
      command: ["sleep", "600"],
      mounts: [{ type: "bind", source: probe.dir, target: "/probe" }],
      security,
    });
    pids[name] = r.outs.pid as number;
  };
  const attack = async (name: string, attacks: string[]) => {
    const r = await cs.exec(name, `/probe/seccomp ${attacks.join(" ")}`);
    expect(r.code, r.out).toBe(0);
    return probeResults(r.out);
  };
  const seccompMode = (name: string) => /Seccomp:\s+(\d)/.exec(readFileSync(`/proc/${pids[name]}/status`, "utf8"))![1];

  beforeAll(async () => {
    probe = buildSeccompProbe();
    await box("filtered", {});
    await box("unconfined", { seccomp: "unconfined" });
    await box("sysadmin", { capAdd: ["SYS_ADMIN"] });
  });
  afterAll(async () => {
    await cs.cleanup();
    probe?.remove();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("a default container refuses every dangerous class: EPERM, and ENOSYS for clone3", async () => {
    expect(seccompMode("filtered")).toBe("2");
    expect(await attack("filtered", Object.keys(refused))).toEqual(refused);
  });

  it("a default container still forks, clones without namespace flags and makes FIFOs", async () => {
    const results = await attack("filtered", allowed);
    expect(results).toEqual(Object.fromEntries(allowed.map((a) => [a, "OK"])));
  });

  it('security.seccomp: "unconfined" has no filter: what only seccomp refused succeeds', async () => {
    expect(seccompMode("unconfined")).toBe("0");
    const results = await attack("unconfined", onlySeccompRefuses);
    expect(results).toEqual(Object.fromEntries(onlySeccompRefuses.map((a) => [a, "OK"])));
  });

  it("capAdd SYS_ADMIN relaxes what Docker relaxes for it, and nothing else", async () => {
    expect(seccompMode("sysadmin")).toBe("2");
    // Allowed by moby's CAP_SYS_ADMIN rules: namespaces, clone3 (no ENOSYS), mounts.
    const relaxed = ["clone-ns", "clone3", "clone3-ns", "unshare-net", "mount"];
    expect(await attack("sysadmin", relaxed)).toEqual(Object.fromEntries(relaxed.map((a) => [a, "OK"])));
    // Not relaxed by CAP_SYS_ADMIN: still the filter's EPERM.
    const still = ["io_uring", "keyctl", "add_key", "userfaultfd", "mknod-chr", "kexec"];
    expect(await attack("sysadmin", still)).toEqual(Object.fromEntries(still.map((a) => [a, "EPERM"])));
  });
});
