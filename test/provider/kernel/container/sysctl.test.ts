import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseSysctls, readSysctlsScript, writeSysctlsScript } from "../../../../provider/kernel/container/sysctl";

describe("a container's sysctls on the host", () => {
  it("reports declared keys whose kernel value differs, comparing as the kernel prints them", () => {
    // grep -H '': a missing file prints nothing here (its error goes to stderr)
    const out = "/proc/sys/kernel/sem:250\t32000\t32\t128\n/proc/sys/net/core/somaxconn:4096\n";
    const declared = { "kernel.sem": "250 32000 32 128", "net.core.somaxconn": "1024", "net.ipv4.ip_unprivileged_port_start": "80", "kernel.shmmax": "1" };
    expect(parseSysctls(out, declared)).toEqual(
      new Map([
        ["net.core.somaxconn", "4096"],
        ["net.ipv4.ip_unprivileged_port_start", ""],
        ["kernel.shmmax", ""],
      ]),
    );
    expect(parseSysctls("/proc/sys/kernel/sem:250 32000 32 128\n", { "kernel.sem": "250 32000 32 128" })).toEqual(new Map());
  });

  it("enters the init's network, IPC and UTS namespaces and uses the host's /proc/sys", () => {
    const read = readSysctlsScript(42, ["net.core.somaxconn"]);
    expect(read).toMatch(/^nsenter --target 42 --net --ipc --uts grep -H '' /);
    expect(read).toContain("/proc/sys/net/core/somaxconn");
    const write = writeSysctlsScript(42, { "kernel.sem": "250 32000 32 128" });
    expect(write).toMatch(/^nsenter --target 42 --net --ipc --uts sh -c /);
    expect(write).toMatch(/250 32000 32 128.*> .*\/proc\/sys\/kernel\/sem/);
  });

  it("names the key and the kernel's refusal when a write fails", () => {
    // the body alone, against a file that refuses: what the user reads
    const body = writeSysctlsScript(1, { "net.core.somaxconn": "x" })
      .replace(/^nsenter [^']*sh -c /, "")
      .replace(/\/proc\/sys\/net\/core\/somaxconn/g, "/nonexistent/dir/f");
    const err = (() => {
      try {
        execFileSync("sh", ["-c", `sh -c ${body}`], { stdio: "pipe" });
        return "";
      } catch (e) {
        return String((e as { stderr: Buffer }).stderr);
      }
    })();
    expect(err).toMatch(/^sysctls\.net\.core\.somaxconn: writing "x" in the container's namespace failed: .*(No such file|nonexistent)/);
  });
});
