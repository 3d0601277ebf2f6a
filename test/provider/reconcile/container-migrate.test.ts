import { describe, expect, it } from "vitest";
import { chooseMode } from "../../../provider/reconcile/container";
import type { HostContext } from "../../../provider/reconcile/host-context";

/** A host whose live-support script answers `answer` (a fake transport: no host is touched). */
function fakeHost(name: string, answer: string, runtime: "runc" | "crun" = "crun") {
  const calls: string[] = [];
  const h = {
    t: {
      target: name,
      run: async (argv: string[]) => (calls.push(argv.join(" ")), { command: "", exitCode: 0, stdout: `${answer}\n`, stderr: "", timedOut: false }),
    },
    facts: { cgroupMode: "unified", runtimes: [{ name: runtime, path: `/usr/bin/${runtime}`, version: "1" }] },
  } as unknown as HostContext;
  return { h, host: { connection: { type: "local" as const }, prefix: "kslice", runtime: "auto" as const }, name, calls };
}

describe("choosing how a container migrates", () => {
  it("cold asks no host anything", async () => {
    const a = fakeHost("A", "ok");
    expect(await chooseMode("cold", a, fakeHost("B", "ok"))).toEqual({ mode: "cold" });
    expect(a.calls).toEqual([]);
  });

  it("live-or-cold falls back to cold saying which host cannot and why", async () => {
    const r = await chooseMode(
      "live-or-cold",
      fakeHost("A", "criu is not installed"),
      fakeHost("B", "crun was built without CRIU (crun --version does not show +CRIU)"),
    );
    expect(r).toEqual({ mode: "cold", fallback: "host A: criu is not installed; host B: crun was built without CRIU (crun --version does not show +CRIU)" });
  });

  it("live alone is an error naming the host and why", async () => {
    const r = await chooseMode("live", fakeHost("A", "criu check failed: Error (criu/vdso.c): vdso"), fakeHost("B", "criu is not installed"));
    expect(r).toEqual({ error: "host A: criu check failed: Error (criu/vdso.c): vdso; host B: criu is not installed" });
  });

  it("hosts that pass every check move live; a container on a Network moves live between runc hosts only, a crun host named with the reason", async () => {
    expect(await chooseMode("live", fakeHost("A", "ok", "runc"), fakeHost("B", "ok", "runc"))).toEqual({ mode: "live" });
    expect(await chooseMode("live-or-cold", fakeHost("A", "ok", "runc"), fakeHost("B", "ok", "runc"))).toEqual({ mode: "live" });
    expect(await chooseMode("live", fakeHost("A", "ok", "runc"), fakeHost("B", "ok", "runc"), true)).toEqual({ mode: "live" });
    const r = await chooseMode("live", fakeHost("A", "ok", "runc"), fakeHost("B", "ok", "crun"), true);
    expect(r).toEqual({ error: expect.stringMatching(/^host B: the container is on a Network, which moves live only with runc on both hosts/) });
    expect(r).not.toMatchObject({ error: expect.stringContaining("host A") });
    // the same crun host passes for a container without networks
    expect(await chooseMode("live", fakeHost("A", "ok", "runc"), fakeHost("B", "ok", "crun"))).toEqual({ mode: "live" });
    const fell = await chooseMode("live-or-cold", fakeHost("A", "ok", "crun"), fakeHost("B", "criu is not installed", "runc"), true);
    expect(fell).toMatchObject({ mode: "cold", fallback: expect.stringContaining("host A: the container is on a Network") });
    expect(fell).toMatchObject({ fallback: expect.stringContaining("host B: criu is not installed") });
  });

  it("checkpoint and restore with runc leave the network namespace's contents to kslice (--empty-ns network), with crun not; a restore brings the loopback up", async () => {
    const { preDumpScript, finalDumpScript } = await import("../../../provider/kernel/container/migrate");
    const { startScript } = await import("../../../provider/kernel/container/scripts");
    const { hostLayout } = await import("../../../provider/kernel/container/layout");
    expect(preDumpScript("runc --root /r", "/b", "c", 1)).toContain("runc --root /r checkpoint --pre-dump --empty-ns network ");
    expect(finalDumpScript("runc --root /r", "/b", "c", 1)).toContain("runc --root /r checkpoint --empty-ns network ");
    const runc = startScript("runc", hostLayout("kslice"), "c", [], 1024);
    expect(runc).toMatch(/runc --root \S+ restore --detach --empty-ns network /);
    expect(runc).toMatch(/nsenter --net=\/proc\/\$rp\/ns\/net ip link set dev lo up/);
    expect(startScript("crun", hostLayout("kslice"), "c", [], 1024)).not.toContain("--empty-ns");
  });

  it("pre-dump rounds chain: each names the round before as its parent, the final dump the last round; the first alone clears older images", async () => {
    const { preDumpScript, finalDumpScript } = await import("../../../provider/kernel/container/migrate");
    const one = preDumpScript("runc --root /r", "/b", "c", 1);
    expect(one).toContain("rm -rf /b/checkpoint && mkdir -p /b/checkpoint/pre1");
    expect(one).not.toContain("--parent-path");
    const three = preDumpScript("runc --root /r", "/b", "c", 3);
    expect(three).toContain("--image-path /b/checkpoint/pre3 --parent-path ../pre2 ");
    expect(three).not.toMatch(/rm -rf \/b\/checkpoint /);
    expect(three).toContain("cat /b/checkpoint/pre3/pages-*.img 2>/dev/null | wc -c");
    expect(finalDumpScript("runc --root /r", "/b", "c", 3)).toContain("--image-path /b/checkpoint/final --parent-path ../pre3 ");
  });

  it("the probe refuses a host without iptables-restore (criu 3.17 locks the network with it)", async () => {
    const { liveSupportScript } = await import("../../../provider/kernel/container/migrate");
    expect(liveSupportScript("runc")).toContain("command -v iptables-restore");
    const r = await chooseMode(
      "live-or-cold",
      fakeHost("A", "iptables-restore is missing (criu locks a dumped container's network with it): install iptables", "runc"),
      fakeHost("B", "ok", "runc"),
    );
    expect(r).toMatchObject({ mode: "cold", fallback: expect.stringContaining("host A: iptables-restore is missing") });
  });
});
