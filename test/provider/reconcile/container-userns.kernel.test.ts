import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostLayout } from "../../../provider/kernel/container/layout";
import { parseSnapshot } from "../../../provider/kernel/container/snapshot";
import { legacyBase, rangeBase, rangeIndex, rangeSize, releaseRange } from "../../../provider/kernel/container/uid-ranges";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { readOnlyBindFailures } from "../../../provider/reconcile/container/mounts";
import { ensureRange } from "../../../provider/reconcile/container/userns";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { LocalTransport } from "../../../provider/transport/local";
import type { ContainerArgs } from "../../../schema/container";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const prefixA = `${testPrefix}-una`;
const prefixB = `${testPrefix}-unb`;
const a = new Containers(prefixA);
const b = new Containers(prefixB);
const userns = { userNamespace: true };
const work = mkdtempSync(join(tmpdir(), "kslice-userns-"));

/** Host ids of a running process's user namespace: [first, count] per uid_map line. */
function uidMap(pid: number): [number, number][] {
  return readFileSync(`/proc/${pid}/uid_map`, "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const [, host, size] = l.trim().split(/\s+/).map(Number);
      return [host!, size!];
    });
}

/** Claimed indexes of a prefix, by file name, with their owners. */
function claims(prefix: string): Map<number, string> {
  const d = hostLayout(prefix).uidRanges;
  if (!existsSync(d)) return new Map();
  return new Map(readdirSync(d).map((f) => [Number(f), readFileSync(join(d, f), "utf8").trim()]));
}

const overlaps = (ranges: [number, number][]) => ranges.some(([s1, n1], i) => ranges.some(([s2, n2], j) => i !== j && s1 < s2 + n2 && s2 < s1 + n1));

// one cleanup for both groups: the read-only tests use containers of the first
afterAll(async () => {
  await a.cleanup();
  await b.cleanup();
  execFileSync("sh", ["-c", `mountpoint -q ${work}/src/sub && umount ${work}/src/sub; true`]);
  rmSync(work, { recursive: true, force: true });
  expect(leaksOf(prefixA)).toEqual([]);
  expect(leaksOf(prefixB)).toEqual([]);
});

describe("user-namespace ranges are allocated on the host (runc, cgroup v1)", () => {
  const pids: number[] = [];
  it("gives Aa and BB (one hash before) and one name under two prefixes ranges of their own", async () => {
    const made = [
      await a.create("Aa", { command: ["sleep", "600"], security: userns, stopGraceSeconds: 1 }),
      await a.create("BB", { command: ["sleep", "600"], security: userns, stopGraceSeconds: 1 }),
      await a.create("same", { command: ["sleep", "600"], security: userns, stopGraceSeconds: 1 }),
      await b.create("same", { command: ["sleep", "600"], security: userns, stopGraceSeconds: 1 }),
    ];
    pids.push(...made.map((m) => m.outs.pid as number));
    const maps = pids.map(uidMap).flat();
    expect(maps).toHaveLength(4);
    for (const [host, size] of maps) expect([host >= 2 ** 20, size]).toEqual([true, rangeSize]);
    expect(overlaps(maps)).toBe(false);
    // each one's map is its claim
    const claimed = [...claims(prefixA).entries(), ...claims(prefixB).entries()].map(([i, n]) => [n, rangeBase(i)]);
    expect(claimed.sort()).toEqual(
      [
        ["Aa", maps[0]![0]],
        ["BB", maps[1]![0]],
        ["same", maps[2]![0]],
        ["same", maps[3]![0]],
      ].sort(),
    );
  });

  it("200 claims made in parallel bursts across two prefixes never overlap the running ones or each other", async () => {
    const t = new LocalTransport();
    // every create starts from the same stale view (no claims): the host's lock and re-choice decide
    const stale = parseSnapshot("null\n@@bundles\n@@networks\n@@addresses\n");
    const claim = (prefix: string, name: string) => ensureRange(t, hostLayout(prefix), { name, security: { userNamespace: true } } as ContainerArgs, stale);
    const bases: number[] = [];
    for (let burst = 0; burst < 4; burst++) {
      const names = Array.from({ length: 25 }, (_, i) => `n${burst * 25 + i}`);
      bases.push(...((await Promise.all(names.flatMap((n) => [claim(prefixA, n), claim(prefixB, n)]))) as number[]));
    }
    expect(bases).toHaveLength(200);
    expect(new Set(bases).size).toBe(200);
    const running = pids.map(uidMap).flat();
    expect(overlaps([...running, ...bases.map((x) => [x, rangeSize] as [number, number])])).toBe(false);
    expect(claims(prefixA).size + claims(prefixB).size).toBe(204);
    // claiming again is idempotent: the same range
    expect(await claim(prefixB, "n7")).toBe(bases[2 * 7 + 1]);
    for (let i = 0; i < 100; i++) {
      await releaseRange(t, hostLayout(prefixA), `n${i}`);
      await releaseRange(t, hostLayout(prefixB), `n${i}`);
    }
    expect([...claims(prefixA).values()].sort()).toEqual(["Aa", "BB", "same"]);
    expect([...claims(prefixB).values()]).toEqual(["same"]);
  });

  it("a stopped container keeps its range; delete frees it", async () => {
    const made = await a.create("idle", { command: ["sleep", "600"], security: userns, state: "stopped", stopGraceSeconds: 1 });
    const held = [...claims(prefixA).entries()].find(([, n]) => n === "idle")![0];
    const started = (await L.update("", made.outs, { ...made.inputs, state: "running" })).outs!;
    expect(uidMap(started.pid as number)).toEqual([[rangeBase(held), rangeSize]]);
    await L.delete("", started);
    expect([...claims(prefixA).values()]).not.toContain("idle");
  });

  it("a bundle made before ranges were claimed keeps its hashed range when free, and is refused when another holds it", async () => {
    // "Ab" and "BC" had one hashed base; made here, then turned into such older bundles: no claim, upper owned by the hash
    const old = [
      await a.create("Ab", { command: ["sleep", "600"], security: userns, state: "stopped", stopGraceSeconds: 1 }),
      await a.create("BC", { command: ["sleep", "600"], security: userns, state: "stopped", stopGraceSeconds: 1 }),
    ];
    expect(legacyBase("Ab")).toBe(legacyBase("BC"));
    for (const [i, n] of claims(prefixA)) if (n === "Ab" || n === "BC") rmSync(join(hostLayout(prefixA).uidRanges, String(i)));
    for (const o of old) {
      const bundle = o.outs.bundlePath as string;
      // overlayfs caches its root's owner: chown the upper while unmounted, as a create did then
      const opts = `lowerdir=${hostLayout(prefixA).templates}/busybox,upperdir=${bundle}/upper,workdir=${bundle}/work`;
      execFileSync("sh", [
        "-c",
        `umount ${bundle}/rootfs && chown ${legacyBase("Ab")}:${legacyBase("Ab")} ${bundle}/upper && mount -t overlay overlay -o ${opts} ${bundle}/rootfs`,
      ]);
    }
    forgetReads();
    const started = (await L.update("", old[0]!.outs, { ...old[0]!.inputs, state: "running" })).outs!;
    expect(uidMap(started.pid as number)).toEqual([[legacyBase("Ab"), rangeSize]]);
    expect(claims(prefixA).get(rangeIndex(legacyBase("Ab"))!)).toBe("Ab");
    expect(await a.exec("Ab", "touch /w && echo ok")).toEqual({ code: 0, out: "ok\n" });
    await expect(L.update("", old[1]!.outs, { ...old[1]!.inputs, state: "running" })).rejects.toThrow(
      /BC was made with host uids .* which another container holds/,
    );
  });

  it("the template and a path rootfs are readable, and / is writable, by a user-namespaced root", async () => {
    const dir = join(work, "tree");
    mkdirSync(join(dir, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
    for (const x of ["sh", "cat", "sleep", "touch"]) symlinkSync("busybox", join(dir, "bin", x));
    writeFileSync(join(dir, "marker"), "from-a-dir\n");
    await a.create("dirns", { rootfs: { path: dir }, command: ["sleep", "600"], security: userns, stopGraceSeconds: 1 });
    const onDir = await a.exec("dirns", "cat /marker && touch /written && echo ok");
    expect(onDir.out).toContain("from-a-dir\nok");
    expect(existsSync(join(dir, "written"))).toBe(false);
    const onBusybox = await a.exec("Aa", "grep -c root /etc/passwd && touch /written /tmp/t && id -u");
    expect(onBusybox).toEqual({ code: 0, out: "1\n0\n" });
  });
});

describe("read-only mounts stay read-only", () => {
  const src = join(work, "src");

  it("a write into a submount of a read-only bind fails", async () => {
    mkdirSync(join(src, "sub"), { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", join(src, "sub")]);
    await a.create("robind", { command: ["sleep", "600"], mounts: [{ type: "bind", source: src, target: "/data" }], stopGraceSeconds: 1 });
    const top = await a.exec("robind", "touch /data/top");
    const sub = await a.exec("robind", "touch /data/sub/x");
    expect([top.code, sub.code]).toEqual([1, 1]);
    expect(sub.out).toMatch(/read-only file system/i);
    expect(readdirSync(join(src, "sub"))).toEqual([]);
  });

  it("where the runtime cannot make it recursive, check refuses a read-only bind with a submount, naming the input", async () => {
    const t = new LocalTransport();
    const mounts = [
      { type: "bind", source: join(work, "tree"), target: "/a", readOnly: true },
      { type: "bind", source: `${src}/`, target: "/b", readOnly: true },
    ];
    const failures = await readOnlyBindFailures(t, { mounts } as ContainerArgs, false);
    expect(failures).toEqual([{ property: "mounts.1.source", reason: expect.stringContaining(`has a mount below it (${src}/sub)`) }]);
    expect(await readOnlyBindFailures(t, { mounts } as ContainerArgs, true)).toEqual([]);
  });

  it("/sys/fs/cgroup is not writable in a user-namespaced container on this v1 host", async () => {
    await a.create("cg", { command: ["sleep", "600"], security: userns, stopGraceSeconds: 1 });
    const r = await a.exec("cg", "touch /sys/fs/cgroup/x; mkdir /sys/fs/cgroup/y; ls -A /sys/fs/cgroup | wc -l");
    expect(r.out).toMatch(/touch: \/sys\/fs\/cgroup\/x: Read-only file system/);
    expect(r.out).toMatch(/mkdir: .*Read-only file system/);
    expect(r.out).toMatch(/^0$/m);
  });
});
