// Admission of disk limits against what holds them, at preview: a ResourceLimits' disk budget (its
// children's declared disk.max together, a child without one refused; the budget read from its
// record on the host when the child names the parent by path), the host's free space for a new
// image, and a migration's target without room. Each refusal names the shortfall and leaves
// nothing on the host; a disk-limited container that migrates (between two prefixes of this
// machine) keeps its limit, as df inside on the target shows.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { forgetClaims } from "../../../provider/reconcile/ownership";
import type { Props } from "../../../provider/reconcile/provider-types";
import { Containers } from "../../helpers/containers";
import { localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";

const source = `${testPrefix}-db`;
const target = `${testPrefix}-db2`;
const src = new Containers(source);
const dst = new Containers(target);
const L = containerLifecycle;
const idle = ["sleep", "600"];
const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });
/** Free bytes of the filesystem holding /var/lib, as the check measures it. */
const free = () => Number(sh("df -B1 --output=avail /var/lib | tail -n1").trim());
const dfInside = (prefix: string, name: string) =>
  Number(
    execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, "exec", name, "sh", "-c", "df -k / | tail -n1"], { encoding: "utf8" })
      .trim()
      .split(/\s+/)[1],
  );

let budget: { id: string; outs: Props } | undefined;
let moved: { id: string; outs: Props } | undefined;

describe("disk limits admitted against their budget, the host's free space and a migration's target", () => {
  beforeAll(() => forgetClaims());
  afterAll(async () => {
    if (moved) await containerLifecycle.delete(moved.id, moved.outs).catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
    await src.cleanup(false);
    await dst.cleanup(false);
    if (budget) await limitsLifecycle.delete(budget.id, budget.outs).catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
    await src.deleteHost();
    await dst.deleteHost();
    expect(leaksOf(source)).toEqual([]);
    expect(leaksOf(target)).toEqual([]);
  });

  it("refuses children whose declared disk.max exceed their parent's budget together, and a child without one, naming them, the sum and the budget", async () => {
    const tenant = await limitsLifecycle.check({}, { host: src.host, name: "tenant", disk: { max: "100Mi" } });
    expect(tenant.failures).toBeUndefined();
    const parentDisk = { max: "100Mi" };
    const child = (name: string, disk?: { max: string }) => ({ host: src.host, name, parent: "tenant", command: idle, ...(disk ? { disk } : {}), parentDisk });
    expect((await L.check({}, child("a", { max: "64Mi" }))).failures).toBeUndefined();
    const over = await L.check({}, child("b", { max: "48Mi" }));
    expect(over.failures).toEqual([
      {
        property: "disk.max",
        reason:
          "got 48Mi; the children of tenant declared in this program need 112Mi together (container a 64Mi, container b 48Mi), above the disk budget of tenant (disk.max 100Mi) by 12Mi",
      },
    ]);
    const none = await L.check({}, child("c"));
    expect(none.failures).toEqual([
      {
        property: "disk",
        reason: expect.stringMatching(/^container c declares no disk.max, but it is placed under the disk budget of tenant \(disk.max 100Mi\)/),
      },
    ]);
    // a nested budget counts with its own disk.max, and needs one
    const nested = await limitsLifecycle.check({}, { host: src.host, name: "team", parent: "tenant", parentDisk });
    expect(nested.failures).toEqual([{ property: "disk", reason: expect.stringMatching(/^ResourceLimits tenant\/team declares no disk.max/) }]);
    // the positive control: within the budget, admitted
    expect((await L.check({}, child("b", { max: "32Mi" }))).failures).toBeUndefined();
    expect(existsSync(`/var/lib/${source}/containers/b`)).toBe(false);
  });

  it("reads the budget from the parent's record when the child names it by path (another program)", async () => {
    forgetClaims();
    const tenant = await limitsLifecycle.check({}, { host: src.host, name: "tenant", disk: { max: "100Mi" } });
    const made = await limitsLifecycle.create(tenant.inputs!);
    budget = { id: made.id, outs: made.outs! };
    forgetReads();
    // no parentDisk: the parent is a path, not a ResourceLimits of this program
    const byPath = await L.check({}, { host: src.host, name: "d", parent: "tenant", command: idle, disk: { max: "128Mi" } });
    expect(byPath.failures).toEqual([{ property: "disk.max", reason: expect.stringContaining("above the disk budget of tenant (disk.max 100Mi) by 28Mi") }]);
    // a smaller budget is recorded by update
    const smaller = { ...budget.outs, disk: { max: "32Mi" } };
    expect((await limitsLifecycle.diff(budget.id, budget.outs, smaller)).changes).toBe(true);
    budget = { id: budget.id, outs: (await limitsLifecycle.update(budget.id, budget.outs, smaller)).outs! };
    forgetClaims();
    forgetReads();
    const under = await L.check({}, { host: src.host, name: "d", parent: "tenant", command: idle, disk: { max: "64Mi" } });
    expect(under.failures).toEqual([{ property: "disk.max", reason: expect.stringContaining("above the disk budget of tenant (disk.max 32Mi) by 32Mi") }]);
  });

  it("gives a container that declares no disk the Host's default (counted against a budget); one made before the default keeps none", async () => {
    forgetClaims();
    const hostDefaults = { disk: { max: "32Mi" } };
    // under a 100Mi budget, the default counts as the child's limit
    const c = await src.create("dflt", { command: idle, stopGraceSeconds: 0, parent: "tenant", parentDisk: { max: "100Mi" }, hostDefaults });
    expect(c.inputs.disk).toEqual({ max: "32Mi" });
    expect(c.inputs.diskFrom).toBe("host");
    expect(c.inputs).not.toHaveProperty("hostDefaults");
    const kb = dfInside(source, "dflt");
    expect(kb).toBeGreaterThan(16 * 1024);
    expect(kb).toBeLessThanOrEqual(32 * 1024);
    // the next preview: the same default, nothing to change
    forgetReads();
    const again = await L.check(c.outs, { ...c.inputs, disk: undefined, diskFrom: undefined, hostDefaults });
    expect(again.inputs?.disk).toEqual({ max: "32Mi" });
    expect(await L.diff(c.id, c.outs, again.inputs!)).toEqual({ changes: false });
    // a container made before the default gets none (adding a disk would replace it)
    const plain = await src.create("plain", { command: idle, stopGraceSeconds: 0 });
    const later = await L.check(plain.outs, { ...plain.inputs, hostDefaults });
    expect(later.inputs?.disk).toBeUndefined();
  });

  it("refuses a disk.max above the host's free space, naming the host, the directory, the free and needed bytes; nothing made", async () => {
    forgetClaims();
    const huge = 2 * free();
    const r = await L.check({}, { host: src.host, name: "huge", command: idle, disk: { max: huge } });
    expect(r.failures).toHaveLength(1);
    expect(r.failures![0]!.property).toBe("disk.max");
    expect(r.failures![0]!.reason).toMatch(
      new RegExp(
        `^got [\\d.]+ [GT]iB \\(${huge} bytes\\); host \\S+ has [\\d.]+ [GT]iB free under /var/lib/${source}( \\(.*\\))?, and the image needs [\\d.]+ [GT]iB: [\\d.]+ [GT]iB short$`,
      ),
    );
    expect(existsSync(`/var/lib/${source}/containers/huge`)).toBe(false);
    // the positive control: a small one fits
    expect((await L.check({}, { host: src.host, name: "huge", command: idle, disk: { max: "64Mi" } })).failures).toBeUndefined();
    // two new images of one program that fit the host alone but not together: the second is refused
    forgetClaims();
    const part = Math.floor((0.6 * free()) / 4096) * 4096;
    expect((await L.check({}, { host: src.host, name: "half-1", command: idle, disk: { max: part } })).failures).toBeUndefined();
    const second = await L.check({}, { host: src.host, name: "half-2", command: idle, disk: { max: part } });
    expect(second.failures).toEqual([
      { property: "disk.max", reason: expect.stringMatching(/ to the other new disk images of this program there: .* left\), and the image needs .* short$/) },
    ]);
  });

  it("refuses a migration whose target has no room for its disk.max, naming the target, needed and free bytes; a disk-limited container that migrates keeps its limit", async () => {
    forgetClaims();
    const c = await src.create("mover", { command: idle, stopGraceSeconds: 0, disk: { max: "64Mi" } });
    await src.exec("mover", "echo here > /note");
    const huge = 2 * free();
    const there = { ...c.inputs, host: dst.host };
    const refused = await L.check(c.outs, { ...there, disk: { max: huge } });
    expect(refused.failures).toHaveLength(1);
    expect(refused.failures![0]).toEqual({
      property: "host",
      reason: expect.stringMatching(
        new RegExp(
          `^container mover cannot migrate to host local \\(prefix ${target}\\): it needs its disk.max [\\d.]+ [GT]iB \\(${huge} bytes\\) \\(the image it gets there\\), and that host has [\\d.]+ [GT]iB \\(\\d+ bytes\\) free under /var/lib/${target}: [\\d.]+ [GT]iB short$`,
        ),
      ),
    });
    expect(existsSync(`/var/lib/${target}/containers/mover`)).toBe(false);

    // the same move with its own limit: admitted, and the limit holds on the target
    const ok = await L.check(c.outs, there);
    expect(ok.failures).toBeUndefined();
    const outs = (await L.update(c.id, c.outs, ok.inputs!)).outs!;
    moved = { id: c.id, outs };
    expect(outs.status).toBe("running");
    expect(existsSync(`/var/lib/${target}/containers/mover/disk.img`)).toBe(true);
    const kb = dfInside(target, "mover");
    expect(kb).toBeGreaterThan(48 * 1024);
    expect(kb).toBeLessThanOrEqual(64 * 1024);
    expect(execFileSync(localRuntime(), ["--root", `/run/${target}/runtime`, "exec", "mover", "cat", "/note"], { encoding: "utf8" })).toBe("here\n");
    const w = execFileSync(
      localRuntime(),
      ["--root", `/run/${target}/runtime`, "exec", "mover", "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=100 2>&1; echo rc=$?"],
      { encoding: "utf8" },
    );
    expect(w).toMatch(/No space left on device/);
  });

  it("refuses moving a container without a disk limit to a target whose room its images hold, naming its writable layer's size", async () => {
    forgetClaims();
    const c = await src.create("nolimit", { command: idle, stopGraceSeconds: 0 });
    await src.exec("nolimit", "dd if=/dev/zero of=/data bs=1M count=32");
    const there = { ...c.inputs, host: dst.host };
    // the positive control: the target has room for 32 MiB
    expect((await L.check(c.outs, there)).failures).toBeUndefined();
    // a stopped container on the target whose sparse image promises all but 1 MiB of the free space
    const promised = sh(`for i in /var/lib/${target}/containers/*/disk.img; do [ -f "$i" ] && stat -c '%s %b' "$i"; done; true`)
      .trim()
      .split("\n")
      .filter(Boolean)
      .reduce((sum, l) => {
        const [size, blocks] = l.split(" ").map(Number);
        return sum + size! - blocks! * 512;
      }, 0);
    const hog = Math.floor((free() - promised - 2 ** 20) / 4096) * 4096;
    await dst.create("hog", { command: idle, state: "stopped", disk: { max: hog } });
    forgetReads();
    forgetClaims();
    const r = await L.check(c.outs, there);
    expect(r.failures).toEqual([
      {
        property: "host",
        reason: expect.stringMatching(
          new RegExp(
            `^container nolimit cannot migrate to host local \\(prefix ${target}\\): it needs 3\\d\\.\\d MiB \\(\\d+ bytes\\) for its writable layer, what it takes on host local \\(prefix ${source}\\) now, and that host has .* free under /var/lib/${target} \\(.* promised to the unwritten part of that prefix's disk images: .* left\\): .* short$`,
          ),
        ),
      },
    ]);
  });
});
