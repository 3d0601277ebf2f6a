import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostLayout } from "../../../../provider/kernel/container/layout";
import { ensureLower, templateKey } from "../../../../provider/kernel/container/rootfs";
import { LocalTransport } from "../../../../provider/transport/local";
import { Containers } from "../../../helpers/containers";
import { leaksOf } from "../../../helpers/leaks";
import { testPrefix } from "../../../helpers/prefix";

const t = new LocalTransport();
const work = mkdtempSync(join(tmpdir(), "kslice-template-"));
const prefixes: string[] = [];
const fresh = (s: string) => {
  const p = `${testPrefix}-tpl${s}`;
  prefixes.push(p);
  return p;
};

/** An OCI layout holding a busybox image at "v1" (umoci's own tools, as a user would make one). */
function ociLayout(): string {
  const layout = join(work, "layout");
  execFileSync("sh", [
    "-c",
    [
      `umoci init --layout ${layout}`,
      `umoci new --image ${layout}:v1`,
      `umoci unpack --image ${layout}:v1 ${work}/b`,
      `mkdir -p ${work}/b/rootfs/bin && cp /bin/busybox ${work}/b/rootfs/bin/ && ln -s busybox ${work}/b/rootfs/bin/sh`,
      `umoci repack --image ${layout}:v1 ${work}/b`,
    ].join(" && "),
  ]);
  return layout;
}

describe("templates: built once, never published half-made", () => {
  afterAll(async () => {
    for (const p of prefixes) {
      await new Containers(p).deleteHost().catch(() => undefined);
      expect(leaksOf(p)).toEqual([]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  it("5 parallel ensures of one template on a fresh prefix build it once; the others wait and reuse it", async () => {
    const layout = hostLayout(fresh("a"));
    const results = await Promise.all(Array.from({ length: 5 }, () => ensureLower(t, layout, { busybox: {} })));
    expect(results.filter((r) => r.built)).toHaveLength(1);
    expect(new Set(results.map((r) => r.lower))).toEqual(new Set([`${layout.templates}/busybox`]));
    expect(existsSync(`${layout.templates}/busybox/bin/sh`)).toBe(true);
    expect(readdirSync(layout.templates).filter((f) => f.startsWith(".build-"))).toEqual([]);
  });

  it("5 parallel creates on a fresh prefix all run from one template", async () => {
    const p = fresh("b");
    const cs = new Containers(p);
    try {
      const made = await Promise.all(Array.from({ length: 5 }, (_, i) => cs.create(`c${i}`, { command: ["sleep", "600"], stopGraceSeconds: 1 })));
      expect(made.map((m) => m.outs.status)).toEqual(Array(5).fill("running"));
      const entries = readdirSync(hostLayout(p).templates);
      expect(entries.filter((f) => !f.startsWith(".lock-"))).toEqual(["busybox"]);
    } finally {
      await cs.cleanup(false);
    }
  });

  it("a failed umoci unpack publishes nothing; the error names the step and umoci's stderr, not the script", async () => {
    const layout = hostLayout(fresh("c"));
    const rootfs = { ociLayout: { path: ociLayout(), ref: "no-such-tag" } };
    const e = (await ensureLower(t, layout, rootfs).catch((x) => x)) as Error;
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toContain(`template build: umoci unpack of ${rootfs.ociLayout.path}:no-such-tag failed`);
    expect(e.message).toMatch(/no-such-tag|not found|reference/i); // umoci's own words
    expect(e.message).not.toContain("mktemp");
    expect(existsSync(`${layout.templates}/${templateKey(rootfs)}`)).toBe(false);
    expect(readdirSync(layout.templates).filter((f) => f.startsWith(".build-"))).toEqual([]);
    // and again: the failure was not cached as a template
    await expect(ensureLower(t, layout, rootfs)).rejects.toThrow("umoci unpack");
  });

  it("a failing create shows the failing step and its stderr, not the script", async () => {
    const p = fresh("d");
    const cs = new Containers(p);
    const path = existsSync(join(work, "layout")) ? join(work, "layout") : ociLayout();
    const e = (await cs.create("bad", { rootfs: { ociLayout: { path, ref: "missing" } }, command: ["sh"] }).catch((x) => x)) as Error;
    expect(e.message).toContain(`container bad:`);
    expect(e.message).toContain("template build: umoci unpack");
    expect(e.message).not.toMatch(/mktemp|trap /);
    expect(e.message.split("\n").length).toBeLessThan(6);
    await cs.cleanup(false);
  });
});
