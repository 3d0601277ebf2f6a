// The writable layer's trip between hosts (kernel/container/migrate.ts through transport/stream.ts):
// a real overlay upper dir with a whiteout, an opaque dir, xattrs, a setuid file and user-namespace
// owners is archived, piped through this process and unpacked into another bundle, which is then
// mounted over its lower: what the container sees is what it saw, its ids moved to the new range.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { archiveUpperScript, restoreUpperScript } from "../../../../provider/kernel/container/migrate";
import { LocalTransport } from "../../../../provider/transport/local";
import { pipeHosts } from "../../../../provider/transport/stream";

const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });
const xattr = (path: string, name: string) =>
  execFileSync("python3", ["-c", "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())", path, name], { encoding: "utf8" }).trim();

describe("moving a writable layer (tar through the provider)", () => {
  const dir = mkdtempSync(join(tmpdir(), "kslice-migrate-"));
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  const lower = join(dir, "lower");
  afterAll(() => {
    sh(`umount ${dst}/rootfs 2>/dev/null; true`);
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps content, whiteouts, opaque dirs, xattrs and modes, and shifts ids of the source's range to the target's", async () => {
    const from = 1048576 + 3 * 65536;
    const to = 1048576 + 7 * 65536;
    sh(
      [
        `mkdir -p ${lower}/gone ${lower}/etc ${lower}/dir && echo old > ${lower}/gone/f && echo template > ${lower}/dir/kept`,
        `mkdir -p ${src}/upper/data ${src}/upper/dir && echo hello > ${src}/upper/data/a && head -c 1048576 /dev/urandom > ${src}/upper/data/blob`,
        `mknod ${src}/upper/gone c 0 0`, // a whiteout: the lower's gone/ is deleted in the container
        `python3 -c "import os; os.setxattr('${src}/upper/dir', 'trusted.overlay.opaque', b'y'); os.setxattr('${src}/upper/data/a', 'user.kslice', b'kept')"`,
        `chown ${from}:${from} ${src}/upper ${src}/upper/data && chown ${from + 1234}:${from + 4321} ${src}/upper/data/a`,
        `chown 0:0 ${src}/upper/data/blob && chmod 4755 ${src}/upper/data/blob`, // host root: outside the range, kept
        `mkdir -p ${dst}/upper ${dst}/work ${dst}/rootfs && echo stale > ${dst}/upper/stale`,
      ].join(" && "),
    );
    const t = new LocalTransport();
    const r = await pipeHosts(t, ["sh", "-c", archiveUpperScript(src, { from, to })], t, ["sh", "-c", restoreUpperScript(dst, lower)], { timeoutMs: 60_000 });
    expect(r.from.exitCode, r.from.stderr).toBe(0);
    expect(r.to.exitCode, r.to.stderr).toBe(0);
    expect(r.bytes).toBeGreaterThan(2 ** 20);

    const rootfs = `${dst}/rootfs`;
    expect(sh(`mountpoint -q ${rootfs} && echo mounted`).trim()).toBe("mounted");
    expect(sh(`cat ${rootfs}/data/a; ls ${rootfs}; ls ${rootfs}/dir`).split("\n").filter(Boolean)).toEqual(["hello", "data", "dir", "etc"]);
    expect(sh(`sha256sum < ${src}/upper/data/blob`)).toBe(sh(`sha256sum < ${rootfs}/data/blob`));
    expect(sh(`stat -c '%u:%g' ${dst}/upper ${dst}/upper/data ${dst}/upper/data/a ${dst}/upper/data/blob`).trim().split("\n")).toEqual([
      `${to}:${to}`, `${to}:${to}`, `${to + 1234}:${to + 4321}`, "0:0",
    ]);
    expect(sh(`stat -c '%a' ${dst}/upper/data/blob`).trim()).toBe("4755");
    expect(sh(`stat -c '%F %t:%T' ${dst}/upper/gone`).trim()).toBe("character special file 0:0");
    expect(xattr(`${dst}/upper/dir`, "trusted.overlay.opaque")).toBe("y");
    expect(xattr(`${dst}/upper/data/a`, "user.kslice")).toBe("kept");
    // the fresh upper's own files are replaced, not merged
    expect(sh(`ls ${dst}/upper`).split("\n").filter(Boolean)).toEqual(["data", "dir", "gone"]);
  });

  it("a failing unpack is reported by its side, and the other side does not hang", async () => {
    const t = new LocalTransport();
    // a source that never ends by itself: only the pipe's kill can stop it before the bound
    const r = await pipeHosts(t, ["sh", "-c", "cat /dev/zero"], t, ["sh", "-c", "head -c 10 >/dev/null; echo 'No space left on device' >&2; exit 2"], { timeoutMs: 30_000 });
    expect(r.to.exitCode).toBe(2);
    expect(r.to.stderr).toContain("No space left on device");
    expect(r.from.timedOut).toBe(false);
    expect(r.from.exitCode).not.toBe(0);
  }, 60_000);
});
