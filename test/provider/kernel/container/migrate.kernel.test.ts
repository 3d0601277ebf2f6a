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
import { streamUpper } from "../../../../provider/kernel/container/move";
import { LocalTransport } from "../../../../provider/transport/local";
import { pipeHosts } from "../../../../provider/transport/stream";

const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });
const xattr = (path: string, name: string) =>
  execFileSync("python3", ["-c", "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())", path, name], {
    encoding: "utf8",
  }).trim();

describe("moving a writable layer (tar through the provider)", () => {
  const dir = mkdtempSync(join(tmpdir(), "kslice-migrate-"));
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  const lower = join(dir, "lower");
  afterAll(() => {
    sh(`for m in ${dst} ${dir}/pre ${dir}/whole; do umount $m/rootfs 2>/dev/null; done; true`);
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
      `${to}:${to}`,
      `${to}:${to}`,
      `${to + 1234}:${to + 4321}`,
      "0:0",
    ]);
    expect(sh(`stat -c '%a' ${dst}/upper/data/blob`).trim()).toBe("4755");
    expect(sh(`stat -c '%F %t:%T' ${dst}/upper/gone`).trim()).toBe("character special file 0:0");
    expect(xattr(`${dst}/upper/dir`, "trusted.overlay.opaque")).toBe("y");
    expect(xattr(`${dst}/upper/data/a`, "user.kslice")).toBe("kept");
    // the fresh upper's own files are replaced, not merged
    expect(sh(`ls ${dst}/upper`).split("\n").filter(Boolean)).toEqual(["data", "dir", "gone"]);
  });

  it("a pre-copy while it runs plus the changes after the stop gives what one whole copy gives, and moves only what changed", async () => {
    const from = 1048576 + 3 * 65536;
    const to = 1048576 + 9 * 65536;
    const [s2, pre, whole] = [join(dir, "s2"), join(dir, "pre"), join(dir, "whole")];
    const u = `${s2}/upper`;
    sh(
      [
        `mkdir -p ${lower} ${u}/keep ${u}/dir ${u}/gone ${pre}/upper ${pre}/rootfs ${whole}/upper ${whole}/rootfs`,
        `head -c 4194304 /dev/urandom > ${u}/keep/blob && echo same > ${u}/keep/same && echo v1 > ${u}/edit && echo x > ${u}/gone/f`,
        `echo f > ${u}/becomes-dir && echo m > ${u}/mode && echo x > ${u}/attr && mkdir ${u}/becomes-file && echo r > ${u}/torename && echo s1 > ${u}/sneaky && mkdir -p ${u}/olddir/sub && echo deep > ${u}/olddir/sub/deep`,
        `chown -R ${from}:${from} ${u} && chown ${from + 5}:${from + 6} ${u}/keep/same`,
      ].join(" && "),
    );
    const t = new LocalTransport();
    const pipe = (a: string, b: string) => pipeHosts(t, ["sh", "-c", a], t, ["sh", "-c", b], { timeoutMs: 60_000 });
    // the clock read before the pre-copy, as the migration does, a second after the files were made
    // (tar's --newer takes a file of the same second as changed, so the migration reads it 2 s early)
    await new Promise((r) => setTimeout(r, 1100));
    const since = Math.floor(Date.now() / 1000);
    const p1 = await pipe(archiveUpperScript(s2, { from, to }, { kind: "precopy" }), restoreUpperScript(pre, lower, undefined, "precopy"));
    expect([p1.from.exitCode, p1.to.exitCode], p1.from.stderr + p1.to.stderr).toEqual([0, 0]);
    expect(sh(`mountpoint -q ${pre}/rootfs && echo mounted || echo not`).trim()).toBe("not");
    sh(
      [
        `echo v2 > ${u}/edit && rm -rf ${u}/gone && mknod ${u}/gone c 0 0`, // deleted, then whited out
        `rm ${u}/becomes-dir && mkdir ${u}/becomes-dir && echo in > ${u}/becomes-dir/f && rmdir ${u}/becomes-file && echo now > ${u}/becomes-file`,
        `chmod 4711 ${u}/mode && python3 -c "import os; os.setxattr('${u}/attr', 'user.k', b'2')" && echo n > ${u}/new`,
        // a directory renamed: what it holds keeps its times, and only the target's lack of it tells
        `mv ${u}/olddir ${u}/newdir`,
        // renamed, and rewritten with its old mtime put back: only its ctime tells
        `mv ${u}/torename ${u}/renamed && touch -r ${u}/sneaky ${u}/.t && echo s2 > ${u}/sneaky && touch -r ${u}/.t ${u}/sneaky && rm ${u}/.t`,
        `chown -R ${from}:${from} ${u}/becomes-dir ${u}/becomes-file ${u}/new ${u}/gone`,
      ].join(" && "),
    );
    // the changes phase as a migration runs it: what went pruned on the target, its listing sent back, then the archive
    const changed = await streamUpper(
      { t, name: "source", bundle: s2 },
      { t, name: "target", bundle: pre },
      { shift: { from, to }, phase: { kind: "changes", since }, lower },
    );
    expect(sh(`ls ${s2}`).trim()).toBe("upper"); // the target's listing went with the archive
    const one = await pipe(archiveUpperScript(s2, { from, to }), restoreUpperScript(whole, lower));
    expect([one.from.exitCode, one.to.exitCode]).toEqual([0, 0]);

    // the unchanged 4 MiB went once, in the pre-copy
    expect(p1.bytes).toBeGreaterThan(4 * 2 ** 20);
    expect(changed).toBeLessThan(2 ** 20);
    // everything a container sees, compared path by path: type, mode, owners, content, xattrs
    const view = (root: string) =>
      sh(`cd ${root}/upper && find . -mindepth 1 -printf '%y %m %U:%G %T@ %p\\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2`);
    const xattrs = (root: string) =>
      execFileSync(
        "python3",
        [
          "-c",
          "import os,sys\nfor d,ds,fs in sorted(os.walk(sys.argv[1])):\n  for n in sorted(ds+fs):\n    p=os.path.join(d,n); print(os.path.relpath(p,sys.argv[1]), sorted((k,os.getxattr(p,k,follow_symlinks=False)) for k in os.listxattr(p,follow_symlinks=False)))",
          `${root}/upper`,
        ],
        { encoding: "utf8" },
      );
    expect(view(pre)).toBe(view(whole));
    expect(xattrs(pre)).toBe(xattrs(whole));
    expect(
      sh(`stat -c '%F %u %a' ${pre}/upper/gone ${pre}/upper/becomes-dir ${pre}/upper/becomes-file ${pre}/upper/mode ${pre}/upper/keep/same`).trim().split("\n"),
    ).toEqual([
      `character special file ${to} 644`.replace(" 644", ` ${sh(`stat -c %a ${u}/gone`).trim()}`),
      `directory ${to} ${sh(`stat -c %a ${u}/becomes-dir`).trim()}`,
      `regular file ${to} 644`,
      `regular file ${to} 4711`,
      `regular file ${to + 5} 644`,
    ]);
    expect(sh(`cat ${pre}/rootfs/edit ${pre}/rootfs/becomes-dir/f; ls ${pre}/rootfs`).split("\n").filter(Boolean)).not.toContain("gone");
    expect(sh(`cat ${pre}/rootfs/edit ${pre}/rootfs/sneaky ${pre}/rootfs/renamed ${pre}/rootfs/newdir/sub/deep`).trim().split("\n")).toEqual([
      "v2",
      "s2",
      "r",
      "deep",
    ]);
  });

  it("a failing unpack is reported by its side, and the other side does not hang", async () => {
    const t = new LocalTransport();
    // a source that never ends by itself: only the pipe's kill can stop it before the bound
    const r = await pipeHosts(t, ["sh", "-c", "cat /dev/zero"], t, ["sh", "-c", "head -c 10 >/dev/null; echo 'No space left on device' >&2; exit 2"], {
      timeoutMs: 30_000,
    });
    expect(r.to.exitCode).toBe(2);
    expect(r.to.stderr).toContain("No space left on device");
    expect(r.from.timedOut).toBe(false);
    expect(r.from.exitCode).not.toBe(0);
  }, 60_000);
});
