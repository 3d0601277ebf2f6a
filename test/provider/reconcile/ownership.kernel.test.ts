import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { limitsLifecycle } from "../../../provider/reconcile/limits";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import { forgetClaims } from "../../../provider/reconcile/ownership";
import { Containers } from "../../helpers/containers";
import { localCgroupFile } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { alive } from "../../helpers/procs";

const prefix = `${testPrefix}-own`;
const cs = new Containers(prefix);
const urn = (stack: string, type: string, name: string) => `urn:pulumi:${stack}::proj::pulumi-nodejs:dynamic/kslice:${type}::${name}`;
const recorded = (file: string) => (JSON.parse(readFileSync(file, "utf8")) as { owner?: string }).owner;

afterAll(async () => {
  await cs.cleanup();
  expect(leaksOf(prefix)).toEqual([]);
});

describe("single-resource checks at preview", () => {
  it("refuses a capability name the kernel does not know, and accepts a known one", async () => {
    const bogus = await L.check({}, { host: cs.host, name: "caps", command: ["true"], security: { capAdd: ["CAP_BOGUS"], capDrop: ["NET_RAW"] } });
    expect(bogus.failures).toEqual([
      { property: "security.capAdd.0", reason: expect.stringMatching(/^got "CAP_BOGUS"; not a capability the kernel of host local knows \(CAP_CHOWN … CAP_/) },
    ]);
    const known = await L.check({}, { host: cs.host, name: "caps", command: ["true"], security: { capAdd: ["NET_ADMIN"] } });
    expect(known.failures).toBeUndefined();
  });

  it("refuses an OCI layout path that is not on the host", async () => {
    const r = await L.check({}, { host: cs.host, name: "oci", command: ["true"], rootfs: { ociLayout: { path: "/nonexistent/layout" } } });
    expect(r.failures).toEqual([{ property: "rootfs.ociLayout.path", reason: expect.stringContaining('got "/nonexistent/layout"; no OCI image layout') }]);
  });

  it("refuses a container name declared twice in one program (claimed at check)", async () => {
    const first = await L.check({}, { host: cs.host, name: "twice", command: ["true"], owner: urn("s", "Container", "one") });
    expect(first.failures).toBeUndefined();
    const second = await L.check({}, { host: cs.host, name: "twice", command: ["true"], owner: urn("s", "Container", "two") });
    expect(second.failures).toEqual([
      { property: "name", reason: expect.stringContaining(`also the name of ${urn("s", "Container", "one")} in this program`) },
    ]);
    // the first resource renamed its container: the name is free again
    await L.check({}, { host: cs.host, name: "renamed", command: ["true"], owner: urn("s", "Container", "one") });
    expect((await L.check({}, { host: cs.host, name: "twice", command: ["true"], owner: urn("s", "Container", "two") })).failures).toBeUndefined();
  });
});

describe("owners of containers", () => {
  const mine = urn("a", "Container", "web");
  const theirs = urn("b", "Container", "web");

  it("records the owner; another owner is refused at check and create unless adopt: true; delete leaves an adopted container to its new owner", async () => {
    const { id, outs, inputs } = await cs.create("owned", { command: ["sleep", "600"], stopGraceSeconds: 0, owner: mine });
    expect(recorded(`/var/lib/${prefix}/containers/owned/kslice.json`)).toBe(mine);
    const other = { ...inputs, owner: theirs };
    forgetClaims(); // another stack's program runs in a provider process of its own
    const refused = await L.check({}, other);
    expect(refused.failures).toEqual([{ property: "name", reason: expect.stringContaining(`already belongs to ${mine} (stack proj/a); set adopt: true`) }]);
    expect(String(await L.create(other).catch((e) => e))).toContain(`already belongs to ${mine}`);
    // crash recovery: its own owner takes it over without a word
    expect((await L.create(inputs)).outs!.pid).toBe(outs.pid);

    forgetClaims();
    const adopted = await L.check({}, { ...other, adopt: true });
    expect(adopted.failures).toBeUndefined();
    const taken = await L.create(adopted.inputs!);
    expect(taken.outs!.pid).toBe(outs.pid);
    expect(recorded(`/var/lib/${prefix}/containers/owned/kslice.json`)).toBe(theirs);

    await L.delete(id, outs); // the old owner's delete: not theirs any more
    expect(alive(outs.pid as number)).toBe(true);
    await L.delete(id, taken.outs!);
    expect(alive(outs.pid as number)).toBe(false);
    expect(existsSync(`/var/lib/${prefix}/containers/owned`)).toBe(false);
  });
});

describe("owners of budgets", () => {
  const host = { connection: { type: "local" }, prefix };
  const mine = urn("a", "ResourceLimits", "t");
  const theirs = urn("b", "ResourceLimits", "t");
  const record = `/var/lib/${prefix}/limits/tenant.json`;

  it("refuses creating over an existing budget at check: another owner's (named) or one without a record; its own is taken over", async () => {
    const args = { host, name: "tenant", limits: { pids: { max: 32 } }, owner: mine };
    const made = await limitsLifecycle.create((await limitsLifecycle.check({}, args)).inputs!);
    expect(recorded(record)).toBe(mine);

    forgetClaims(); // another stack's program runs in a provider process of its own
    const other = await limitsLifecycle.check({}, { ...args, owner: theirs });
    expect(other.failures).toEqual([{ property: "name", reason: expect.stringContaining(`already belongs to ${mine} (stack proj/a); set adopt: true`) }]);
    // state lost: the same owner's create takes its node over
    forgetClaims();
    const again = await limitsLifecycle.check({}, args);
    expect(again.failures).toBeUndefined();
    await limitsLifecycle.create(again.inputs!);
    // an existing resource re-checked: no complaint about its own node
    expect((await limitsLifecycle.check(made.outs!, args)).failures).toBeUndefined();

    await limitsLifecycle.delete(made.id, made.outs!);
    expect(existsSync(record)).toBe(false);
    // a cgroup kslice has no record of (made by hand): adopt: true only
    execFileSync("mkdir", ["-p", dirname(localCgroupFile(prefix, "tenant", "pids.max"))]);
    forgetClaims();
    const hand = await limitsLifecycle.check({}, { ...args, limits: {} });
    expect(hand.failures).toEqual([{ property: "name", reason: expect.stringContaining("kslice has no record of its owner; set adopt: true") }]);
    const adopted = await limitsLifecycle.check({}, { ...args, limits: {}, adopt: true });
    expect(adopted.failures).toBeUndefined();
    const taken = await limitsLifecycle.create(adopted.inputs!);
    await limitsLifecycle.delete(taken.id, taken.outs!);
    expect(existsSync(`/var/lib/${prefix}/limits`)).toBe(false);
  });

  it("checks a child against its parent's declared limits, before the parent exists", async () => {
    const r = await limitsLifecycle.check(
      {},
      {
        host,
        name: "child",
        parent: "new-tenant",
        limits: { pids: { max: 32 } },
        parentLimits: { pids: { max: 16 } },
        owner: urn("a", "ResourceLimits", "child"),
      },
    );
    expect(r.failures).toEqual([{ property: "limits.pids.max", reason: expect.stringContaining("got 32, above the parent new-tenant's 16") }]);
    expect(r.inputs).toBeUndefined();
    const ok = await limitsLifecycle.check(
      {},
      {
        host,
        name: "child",
        parent: "new-tenant",
        limits: { pids: { max: 8 } },
        parentLimits: { pids: { max: 16 } },
        owner: urn("a", "ResourceLimits", "child"),
      },
    );
    expect(ok.inputs).not.toHaveProperty("parentLimits");
  });
});

describe("owners of networks", () => {
  const host = { connection: { type: "local" }, prefix };
  const mine = urn("a", "Network", "net");
  const theirs = urn("b", "Network", "net");
  const record = `/var/lib/${prefix}/networks/shared/network.json`;

  it("records the owner in network.json; another owner is refused at check unless adopt: true; the old owner's delete leaves it", async () => {
    const args = { host, name: "shared", subnet: "10.242.200.0/24", owner: mine };
    const made = await N.create((await N.check({}, args)).inputs!);
    expect(recorded(record)).toBe(mine);
    forgetClaims(); // another stack's program runs in a provider process of its own
    const refused = await N.check({}, { ...args, owner: theirs });
    expect(refused.failures).toEqual([{ property: "name", reason: expect.stringContaining(`already belongs to ${mine} (stack proj/a); set adopt: true`) }]);
    forgetClaims();
    const adopted = await N.check({}, { ...args, owner: theirs, adopt: true });
    expect(adopted.failures).toBeUndefined();
    const taken = await N.create(adopted.inputs!);
    expect(recorded(record)).toBe(theirs);
    await N.delete(made.id, made.outs!);
    expect(existsSync(record)).toBe(true);
    await N.delete(taken.id, taken.outs!);
    expect(existsSync(record)).toBe(false);
  });
});

describe("state written before owners were recorded", () => {
  it("shows no change when the program now passes an owner, and the next update records it", async () => {
    const { outs, inputs } = await cs.create("legacy", { command: ["sleep", "600"], stopGraceSeconds: 0 });
    expect(recorded(`/var/lib/${prefix}/containers/legacy/kslice.json`)).toBeUndefined();
    const owner = urn("a", "Container", "legacy");
    forgetClaims();
    const news = (await L.check(inputs, { ...inputs, owner })).inputs!;
    expect(await L.diff("", outs, news)).toEqual({ changes: false });
    const updated = await L.update("", outs, { ...news, restartPolicy: "always" });
    expect(updated.outs!.pid).toBe(outs.pid);
    expect(recorded(`/var/lib/${prefix}/containers/legacy/kslice.json`)).toBe(owner);
    await L.delete("", updated.outs!);
    expect(alive(outs.pid as number)).toBe(false);
  });
});
