import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { sleep } from "../../helpers/procs";

const prefix = `${testPrefix}-rfs`;
const cs = new Containers(prefix);
const work = mkdtempSync(join(tmpdir(), "kslice-rootfs-"));

async function logOf(outs: Record<string, unknown>, want: RegExp): Promise<string> {
  for (let i = 0; i < 50; i++, await sleep(100)) {
    const log = readFileSync(outs.logPath as string, "utf8");
    if (want.test(log)) return log;
  }
  return readFileSync(outs.logPath as string, "utf8");
}

describe("root filesystems other than busybox", () => {
  afterAll(async () => {
    await cs.cleanup();
    rmSync(work, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("an existing directory is used read-only below a private layer", async () => {
    const dir = join(work, "tree");
    mkdirSync(join(dir, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
    for (const a of ["sh", "cat", "sleep", "touch"]) symlinkSync("busybox", join(dir, "bin", a));
    writeFileSync(join(dir, "marker"), "from-a-dir\n");
    const { outs } = await cs.create("dirbox", {
      rootfs: { path: dir },
      command: ["sh", "-c", "cat /marker; touch /written; exec sleep 600"],
      stopGraceSeconds: 1,
    });
    expect(await logOf(outs, /from-a-dir/)).toContain("from-a-dir");
    // the container wrote to its own layer, not to the user's directory
    expect(() => readFileSync(join(dir, "written"))).toThrow();
    expect(readFileSync(`${outs.bundlePath}/upper/written`, "utf8")).toBe("");
  });

  it("an OCI image layout is unpacked with umoci once and shared", async () => {
    const layout = join(work, "layout");
    execFileSync("sh", [
      "-c",
      [
        `umoci init --layout ${layout}`,
        `umoci new --image ${layout}:v1`,
        `umoci unpack --image ${layout}:v1 ${work}/b`,
        `mkdir -p ${work}/b/rootfs/bin && cp /bin/busybox ${work}/b/rootfs/bin/ && ln -s busybox ${work}/b/rootfs/bin/sh && ln -s busybox ${work}/b/rootfs/bin/sleep && ln -s busybox ${work}/b/rootfs/bin/cat`,
        `echo from-an-oci-image > ${work}/b/rootfs/marker`,
        `umoci repack --image ${layout}:v1 ${work}/b`,
      ].join(" && "),
    ]);
    const a = await cs.create("oci-a", {
      rootfs: { ociLayout: { path: layout, ref: "v1" } },
      command: ["sh", "-c", "cat /marker; exec sleep 600"],
      stopGraceSeconds: 1,
    });
    const b = await cs.create("oci-b", {
      rootfs: { ociLayout: { path: layout, ref: "v1" } },
      command: ["sh", "-c", "cat /marker; exec sleep 600"],
      stopGraceSeconds: 1,
    });
    expect(await logOf(a.outs, /from-an-oci-image/)).toContain("from-an-oci-image");
    expect(await logOf(b.outs, /from-an-oci-image/)).toContain("from-an-oci-image");
    const templates = execFileSync("ls", [`/var/lib/${prefix}/templates`], { encoding: "utf8" })
      .split("\n")
      .filter((t) => t.startsWith("oci-"));
    expect(templates).toHaveLength(1);
  });

  it("a Debian suite is built with mmdebstrap once per host", async () => {
    const { outs } = await cs.create("debian", {
      rootfs: { debootstrap: { suite: "bookworm" } },
      command: ["sh", "-c", "cat /etc/debian_version; exec sleep 600"],
      stopGraceSeconds: 1,
    });
    expect(await logOf(outs, /^12\./m)).toMatch(/^12\./m);
  }, 600_000);
});
