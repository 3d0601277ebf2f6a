import { describe, expect, it } from "vitest";
import { containerArgs } from "../../schema/container";
import { parseInput } from "../../schema/issues";
import { diskAdmission, diskChange, diskReplaces } from "../../provider/reconcile/container/disk";
import { parseDisk } from "../../provider/kernel/container/disk";

const parse = (disk: unknown) => parseInput(containerArgs, { host: { connection: { type: "local" } }, name: "web", command: ["sleep", "1"], disk });

describe("a container's disk limit", () => {
  it("takes a size and optional inodes; none by default", () => {
    expect(parse({ max: "512Mi", inodes: 1000 })).toMatchObject({ ok: true, value: { disk: { max: 512 * 2 ** 20, inodes: 1000 } } });
    expect(parse({ max: "16Mi" })).toMatchObject({ ok: true, value: { disk: { max: 16 * 2 ** 20 } } });
    expect(parse(undefined)).toMatchObject({ ok: true, value: { disk: undefined } });
  });

  it("refuses what is not a size, a size below 16Mi, and inodes that are not a positive whole number", () => {
    expect(parse({ max: "12Q" })).toEqual({
      ok: false,
      failures: [{ property: "disk.max", reason: expect.stringContaining('got "12Q", which is not a size') }],
    });
    expect(parse({ max: "8Mi" })).toEqual({
      ok: false,
      failures: [{ property: "disk.max", reason: 'got 8388608 bytes; expected at least "16Mi" (16777216 bytes), the smallest image kslice formats' }],
    });
    expect(parse({ max: "64Mi", inodes: 1.5 })).toMatchObject({ ok: false, failures: [{ property: "disk.inodes", reason: expect.stringContaining("1.5") }] });
    expect(parse({ max: "64Mi", inodes: 0 })).toMatchObject({ ok: false, failures: [{ property: "disk.inodes" }] });
    expect(parse({ max: "64Mi", inodes: "100" })).toMatchObject({ ok: false, failures: [{ property: "disk.inodes" }] });
    expect(parse({ max: "64Mi", inodes: 20000 })).toEqual({
      ok: false,
      failures: [{ property: "disk.inodes", reason: "got 20000; expected at most 16384 for max 67108864 bytes (one inode per 4 KiB block)" }],
    });
    expect(parse({ size: "64Mi" })).toMatchObject({
      ok: false,
      failures: expect.arrayContaining([{ property: "disk.max", reason: expect.stringContaining("required") }]),
    });
  });

  it("grows live, and resizes offline a filesystem larger than declared", () => {
    const a = (max: number) => ({ disk: { max } }) as never;
    const seen = (img: number, fs: number) => parseDisk(`${img} 1 ${fs} 4096 ${fs - 1000} 100 1000 10`);
    expect(diskChange(a(2 ** 26), seen(2 ** 26, 2 ** 26))).toBe("none");
    expect(diskChange(a(2 ** 27), seen(2 ** 26, 2 ** 26))).toBe("live");
    expect(diskChange(a(2 ** 26), seen(2 ** 27, 2 ** 26))).toBe("live");
    expect(diskChange(a(2 ** 26), seen(2 ** 27, 2 ** 27))).toBe("offline");
    expect(diskChange({ disk: undefined } as never, seen(2 ** 27, 2 ** 27))).toBe("none");
  });
});

describe("what a change of the disk limit needs", () => {
  it("replaces on other inodes, or when the limit is added or removed; a new max alone does not", () => {
    const d = (disk?: { max: number; inodes?: number }) => ({ disk }) as never;
    expect(diskReplaces(d({ max: 2 ** 26 }), d({ max: 2 ** 27 }))).toEqual([]);
    expect(diskReplaces(d({ max: 2 ** 26, inodes: 100 }), d({ max: 2 ** 26, inodes: 200 }))).toEqual(["disk"]);
    expect(diskReplaces(d(), d({ max: 2 ** 26 }))).toEqual(["disk"]);
    expect(diskReplaces(d({ max: 2 ** 26 }), d())).toEqual(["disk"]);
    expect(diskReplaces(d(), d())).toEqual([]);
  });
});

describe("a host without what disk limits need", () => {
  it("is refused at check, naming the host and what is missing", async () => {
    const t = {
      target: "root@10.0.0.5:22",
      run: async () => ({ stdout: "loop devices (/dev/loop-control is missing: load the loop module)\nmkfs.ext4 (install e2fsprogs / util-linux)\n" }),
    } as never;
    expect(await diskAdmission(t, "/b", { disk: { max: 2 ** 26 } } as never, false)).toEqual([
      {
        property: "disk",
        reason:
          "host root@10.0.0.5:22 lacks what disk limits need: loop devices (/dev/loop-control is missing: load the loop module); mkfs.ext4 (install e2fsprogs / util-linux)",
      },
    ]);
    expect(await diskAdmission(t, "/b", { disk: undefined } as never, false)).toEqual([]);
  });
});
