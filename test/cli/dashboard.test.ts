import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Dashboard, isLoopback, listenRefusal, parseListen, type HostReading, type HostSource } from "../../cli/dashboard";
import { CgroupDriver } from "../../provider/kernel/cgroup/driver";
import { hostLayout } from "../../provider/kernel/container/layout";
import { parseFacts } from "../../provider/kernel/host-facts";
import { parseSample } from "../../provider/kernel/observe/sample";
import type { Transport } from "../../provider/transport/transport";

describe("--listen and the token rule", () => {
  it("parses HOST:PORT and [IPv6]:PORT, and refuses anything else", () => {
    expect(parseListen("127.0.0.1:8090")).toEqual({ host: "127.0.0.1", port: 8090 });
    expect(parseListen("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(() => parseListen("8090")).toThrow(/--listen: got "8090"; expected HOST:PORT/);
    expect(() => parseListen("h:70000")).toThrow(/expected HOST:PORT/);
  });

  it("needs a token for any address but loopback", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) expect(isLoopback(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.5", "example.org"]) expect(isLoopback(h)).toBe(false);
    expect(listenRefusal("127.0.0.1", undefined)).toBeNull();
    expect(listenRefusal("0.0.0.0", "s")).toBeNull();
    expect(listenRefusal("0.0.0.0", undefined)).toMatch(/^--listen 0\.0\.0\.0: not a loopback address.*--token SECRET/);
  });
});

describe("the sample's host disk", () => {
  const facts = parseFacts(readFileSync(join(__dirname, "..", "fixtures", "facts", "hybrid.txt"), "utf8"));
  const driver = new CgroupDriver({} as Transport, facts, "kslice-tclidemo");
  const layout = hostLayout("kslice-tclidemo");
  const fixture = readFileSync(join(__dirname, "..", "fixtures", "observe", "sample-v1.txt"), "utf8");

  it("is df's size, used and available of /var/lib, or null when df said nothing", () => {
    expect(parseSample(fixture, driver, layout).hostDisk).toBeNull();
    const withDisk = fixture.replace("@@sample-tree", "@@sample-hostdisk\n270553174016 17768075264 80025219072\n@@sample-tree");
    expect(parseSample(withDisk, driver, layout).hostDisk).toEqual({ sizeBytes: 270553174016, usedBytes: 17768075264, availBytes: 80025219072 });
  });
});

describe("Dashboard ticks", () => {
  it("reports a host lost and found again as events, and keeps its reason", async () => {
    const readings: HostReading[] = [
      { ok: false, reason: "ssh: connect to host h port 22: Connection refused" },
      { ok: false, reason: "ssh: connect to host h port 22: Connection refused" },
      {
        ok: true,
        facts: { kernel: "6.1", hostname: "h", cgroupVersion: 2, runtime: "crun", cpus: 2, memoryBytes: 1, disk: null },
        view: {
          host: "h",
          prefix: "p",
          cgroupVersion: 2,
          runtime: "crun",
          sampledAt: "2026-12-06T00:00:00.000Z",
          intervalSeconds: null,
          drainingStacks: [],
          draining: false,
          containers: [],
          budgets: [],
          networks: [],
        },
      },
    ];
    const source: HostSource = { label: "h", prefix: "p", read: () => Promise.resolve(readings.shift()!) };
    const board = new Dashboard({ host: "127.0.0.1", port: 0, intervalMs: 1000, sources: [source] });
    await board.tick();
    let s = board.state() as { hosts: { reachable: boolean; reason: string | null; empty: boolean }[]; events: { kind: string }[] };
    expect(s.hosts[0]).toMatchObject({ reachable: false, reason: "ssh: connect to host h port 22: Connection refused" });
    await board.tick();
    await board.tick();
    s = board.state() as typeof s;
    // unreachable once (not at every tick), then reachable; the prefix holds nothing
    expect(s.events.map((e) => e.kind)).toEqual(["unreachable", "reachable"]);
    expect(s.hosts[0]).toMatchObject({ reachable: true, empty: true, reason: 'nothing under prefix "p" (no container, cgroup or network)' });
  });
});
