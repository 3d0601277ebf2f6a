// A container's disk limit (disk: max, inodes), enforced by the kernel: a loop-mounted ext4 image
// per container holds its writable layer. Attacked from inside: writes and files past the limit
// fail with ENOSPC while a neighbour without a limit writes the same (the positive control); the
// host gives the image no more than the limit; df / inside shows it. Live grow keeps the init; a
// shrink restarts it keeping its files; a filesystem grown by hand is drift that update repairs;
// a boot mounts the image again; a failed create and a delete leave no loop device.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { detailOf } from "../../../provider/reconcile/diff-detail";
import { forgetReads } from "../../../provider/reconcile/host-context";
import type { Props } from "../../../provider/reconcile/provider-types";
import { hostDiskScript } from "../../../provider/kernel/container/disk";
import type { PrefixView } from "../../../cli/model";
import { kslice } from "../../helpers/cli";
import { Containers } from "../../helpers/containers";
import { localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-disk`;
const cs = new Containers(prefix);
const idle = ["sleep", "600"];
const Mi = 2 ** 20;
const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });
const runc = (...args: string[]) =>
  execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
/** The loop devices backed by a file of this prefix. */
const loops = () => sh(`losetup -nl -O NAME,BACK-FILE | grep -F /var/lib/${prefix}/ || true`).trim();
/** `df -k /` inside: total and used KiB, and `df -i /`: inodes. */
async function dfInside(name: string): Promise<{ kb: number; usedKb: number; inodes: number }> {
  const out = (await cs.exec(name, "df -k / | tail -n1; df -i / | tail -n1")).out.trim().split("\n");
  const [k, i] = out.map((l) => l.split(/\s+/));
  return { kb: Number(k![1]), usedKb: Number(k![2]), inodes: Number(i![1]) };
}
/** Bytes the image takes on the host's disk (its allocated blocks: it is sparse). */
const onHost = (bundle: string) => statSync(`${bundle}/disk.img`).blocks * 512;

/** Whether root here holds CAP_SYS_RESOURCE, which an online resize2fs needs (this build machine's root does not). */
const canResizeOnline = (BigInt(`0x${/CapEff:\s*(\w+)/.exec(sh("cat /proc/self/status"))![1]}`) >> 24n) & 1n;

const made = new Map<string, { outs: Props; inputs: Props }>();

describe("a container's disk space and inodes", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await cs.deleteHost();
    expect(loops()).toBe("");
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("fails a write past the limit with ENOSPC, files past its inodes too, while a neighbour without a limit writes the same; df / shows the limit", async () => {
    const capped = await cs.create("capped", { command: idle, stopGraceSeconds: 0, disk: { max: "64Mi", inodes: 2000 } });
    await cs.create("free", { command: idle, stopGraceSeconds: 0 });
    made.set("capped", capped);
    const bundle = capped.outs.bundlePath as string;

    // df inside shows the image: about 64 MiB (ext4's journal and tables take the rest), 2000 inodes
    const df = await dfInside("capped");
    expect(df.kb).toBeGreaterThan(48 * 1024);
    expect(df.kb).toBeLessThanOrEqual(64 * 1024);
    // mkfs rounds the inode table to whole blocks per group
    expect(df.inodes).toBe(1984);
    // the positive control: without a limit, / is the host's filesystem, far larger
    expect((await dfInside("free")).kb).toBeGreaterThan(1024 * 1024);

    const write = "dd if=/dev/zero of=/big bs=1M count=100 2>&1; echo rc=$?";
    const w = await cs.exec("capped", write);
    expect(w.out).toMatch(/No space left on device/);
    expect(w.out).not.toMatch(/rc=0/);
    const control = await cs.exec("free", write);
    expect(control.out).toMatch(/rc=0/);
    expect((await cs.exec("free", "rm /big")).code).toBe(0);
    // the host gave the image no more than its limit
    expect(onHost(bundle)).toBeLessThanOrEqual(64 * Mi);
    expect(onHost(bundle)).toBeGreaterThan(40 * Mi);
    expect((await cs.exec("capped", "rm /big")).code).toBe(0);

    const files = "mkdir -p /many && i=0; while [ $i -lt 2500 ]; do echo -n > /many/$i || { echo stopped at $i; exit 1; }; i=$((i + 1)); done; echo made $i";
    const f = await cs.exec("capped", files);
    expect(f.code).not.toBe(0);
    expect(f.out).toMatch(/No space left on device/);
    expect(Number(/stopped at (\d+)/.exec(f.out)![1])).toBeLessThan(2100);
    expect((await cs.exec("free", files)).out).toContain("made 2500");
    expect((await cs.exec("capped", "rm -rf /many")).code).toBe(0);

    // kslice ps: usage against the limit, as df inside shows it
    await cs.exec("capped", "dd if=/dev/zero of=/some bs=1M count=10");
    const ps = await kslice(["--prefix", prefix, "ps", "--json", "--interval", "0"]);
    const view = JSON.parse(ps.stdout) as PrefixView;
    const seen = view.containers.find((c) => c.name === "capped")!.disk!;
    const now = await dfInside("capped");
    expect(seen).toEqual({
      maxBytes: now.kb * 1024,
      usedBytes: now.usedKb * 1024,
      inodes: 1984,
      inodesUsed: expect.any(Number),
      availBytes: expect.any(Number),
      inodesFree: expect.any(Number),
      full: false,
    });
    expect(seen.usedBytes).toBeGreaterThanOrEqual(10 * Mi);
    expect(view.containers.find((c) => c.name === "free")!.disk).toBeNull();
    expect((await kslice(["--prefix", prefix, "ps", "--interval", "0"])).stdout).toMatch(/^capped .* 1\d(\.\d)?Mi\/[4-6]\d(\.\d)?Mi +\d+$/m);
    await cs.exec("capped", "rm /some");
  });

  it("refuses at check a limit below the filesystem's minimum, inodes not a whole number, and names what a host lacks", async () => {
    const small = await L.check({}, { host: cs.host, name: "tiny", command: idle, disk: { max: "8Mi" } });
    expect(small.failures).toEqual([
      { property: "disk.max", reason: 'got 8388608 bytes; expected at least "16Mi" (16777216 bytes), the smallest image kslice formats' },
    ]);
    const frac = await L.check({}, { host: cs.host, name: "tiny", command: idle, disk: { max: "64Mi", inodes: 10.5 } });
    expect(frac.failures).toEqual([{ property: "disk.inodes", reason: "got 10.5; expected a whole number" }]);
    const notSize = await L.check({}, { host: cs.host, name: "tiny", command: idle, disk: { max: "lots" } });
    expect(notSize.failures).toEqual([{ property: "disk.max", reason: expect.stringContaining('got "lots", which is not a size') }]);
    expect(existsSync(`/var/lib/${prefix}/containers/tiny`)).toBe(false);
    // a host without the tools: the script names each (what diskAdmission reports at check)
    expect(sh(`PATH=/nonexistent; ${hostDiskScript()}`).trim().split("\n")).toEqual([
      "mkfs.ext4 (install e2fsprogs / util-linux)",
      "losetup (install e2fsprogs / util-linux)",
      "resize2fs (install e2fsprogs / util-linux)",
      "e2fsck (install e2fsprogs / util-linux)",
      "findmnt (install e2fsprogs / util-linux)",
    ]);
    expect(sh(hostDiskScript()).trim()).toBe("");
  });

  it("grows live (same init; a restart where root lacks CAP_SYS_RESOURCE), refuses a shrink below its usage naming it, and shrinks above it by a restart that keeps its files", async () => {
    const { outs, inputs } = made.get("capped")!;
    const pid = outs.pid as number;
    const grown = { ...inputs, disk: { max: "128Mi", inodes: 2000 } };
    expect((await L.check(outs, grown)).failures).toBeUndefined();
    expect((await L.diff("", outs, grown)).replaces).toBeUndefined();
    const g = (await L.update("", outs, grown)).outs!;
    if (canResizeOnline) expect(g.pid).toBe(pid);
    else expect(g.pid).not.toBe(pid);
    expect((await dfInside("capped")).kb).toBeGreaterThan(100 * 1024);
    const w = await cs.exec("capped", "dd if=/dev/zero of=/big bs=1M count=90 2>&1; echo rc=$?");
    expect(w.out).toMatch(/rc=0/);
    forgetReads();
    expect(await L.diff("", g, grown)).toEqual({ changes: false });

    // 90 MiB used: 64Mi cannot hold it
    const small = await L.check(g, { ...grown, disk: { max: "64Mi", inodes: 2000 } });
    expect(small.failures).toEqual([
      { property: "disk.max", reason: expect.stringMatching(/^got 67108864 bytes \(64Mi\); container capped uses 9\d{7} bytes of its disk now/) },
    ]);

    await cs.exec("capped", "rm /big; echo kept > /note");
    const shrunk = { ...grown, disk: { max: "48Mi", inodes: 2000 } };
    expect((await L.check(g, shrunk)).failures).toBeUndefined();
    const s = (await L.update("", g, shrunk)).outs!;
    expect(s.status).toBe("running");
    expect(s.pid).not.toBe(g.pid);
    expect((await cs.exec("capped", "cat /note")).out).toBe("kept\n");
    expect((await dfInside("capped")).kb).toBeLessThanOrEqual(48 * 1024);
    forgetReads();
    expect(await L.diff("", s, shrunk)).toEqual({ changes: false });
    made.set("capped", { outs: s, inputs: shrunk });
  });

  it("finds a filesystem grown by hand and update shrinks it back to the declaration", async () => {
    const { outs, inputs } = made.get("capped")!;
    const bundle = outs.bundlePath as string;
    // as a root on the host could: the container down, its filesystem grown offline, started again by hand
    runc("delete", "--force", "capped");
    sh(
      `umount ${bundle}/rootfs && umount ${bundle}/disk && e2fsck -f -p ${bundle}/disk.img >/dev/null; truncate -s 256M ${bundle}/disk.img && resize2fs ${bundle}/disk.img >/dev/null 2>&1 && sh ${bundle}/start.sh </dev/null >/dev/null 2>&1`,
    );
    expect((await dfInside("capped")).kb).toBeGreaterThan(200 * 1024);
    forgetReads();
    const diff = await L.diff("", outs, inputs);
    expect(diff.changes).toBe(true);
    expect(detailOf(diff)).toEqual(["disk"]);
    const u = (await L.update("", outs, inputs)).outs!;
    expect((await dfInside("capped")).kb).toBeLessThanOrEqual(48 * 1024);
    expect(statSync(`${bundle}/disk.img`).size).toBe(48 * Mi);
    expect((await cs.exec("capped", "cat /note")).out).toBe("kept\n");
    forgetReads();
    expect(await L.diff("", u, inputs)).toEqual({ changes: false });
    made.set("capped", { outs: u, inputs });
  });

  it("keeps its files across stop and start, and a boot mounts the image again before starting it", async () => {
    const { outs, inputs } = made.get("capped")!;
    const bundle = outs.bundlePath as string;
    const stopped = (await L.update("", outs, { ...inputs, state: "stopped" })).outs!;
    const started = (await L.update("", stopped, inputs)).outs!;
    expect((await cs.exec("capped", "cat /note")).out).toBe("kept\n");
    // a reboot, as far as this host allows one: the init gone, /run's runtime state gone, the mounts gone
    runc("delete", "--force", "capped");
    sh(`umount ${bundle}/rootfs && umount ${bundle}/disk`);
    expect(loops()).not.toContain(`${bundle}/disk.img`);
    sh(`sh /var/lib/${prefix}/boot.sh`);
    expect(sh(`findmnt -no SOURCE ${bundle}/disk`)).toMatch(/^\/dev\/loop/);
    expect((await cs.exec("capped", "cat /note; df -k / | tail -n1")).out).toMatch(/^kept\n/);
    expect((await dfInside("capped")).kb).toBeLessThanOrEqual(48 * 1024);
    forgetReads();
    made.set("capped", { outs: (await L.read("", started)).props!, inputs });
  });

  it("leaves nothing when a create fails after the image was made, and a delete frees the loop device", async () => {
    await expect(cs.create("broken", { command: ["/no/such/program"], disk: { max: "32Mi" } })).rejects.toThrow(/broken/);
    expect(existsSync(`/var/lib/${prefix}/containers/broken`)).toBe(false);
    expect(loops()).not.toContain("broken");
    const { outs } = made.get("capped")!;
    await L.delete("", outs);
    expect(existsSync(outs.bundlePath as string)).toBe(false);
    expect(loops()).toBe("");
    // the leak check finds a loop device left with a file of the prefix behind it
    const file = `/var/lib/${prefix}/left.img`;
    sh(`truncate -s 1M ${file}`);
    const dev = sh(`losetup -f --show ${file}`).trim();
    try {
      expect(leaksOf(prefix)).toContain(`leak: loop device ${dev} (${file})`);
    } finally {
      sh(`losetup -d ${dev}; rm -f ${file}`);
    }
  });
});
