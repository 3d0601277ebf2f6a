import { existsSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive } from "../helpers/procs";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2o`;
const bundle = (name: string) => `/var/lib/${prefix}/containers/${name}`;
const ownerOf = (name: string) => (JSON.parse(readFileSync(`${bundle(name)}/kslice.json`, "utf8")) as { owner?: string }).owner;
const stackOf = (name: string) =>
  new TestStack("test/fixtures/programs", { program: "dist/test/fixtures/programs/owners/index.js", stack: name, config: { "kslice:prefix": prefix } });

describe("two stacks on one host and prefix", () => {
  const a = stackOf("a");
  const b = stackOf("b");
  afterAll(async () => {
    await b.dispose();
    await a.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });
  let sharedPid = 0;

  it("the first stack creates the shared container and records itself as its owner", async () => {
    const r = await a.run("up");
    expect(r.ok, r.stderr).toBe(true);
    sharedPid = r.json!.outputs.sharedPid as number;
    expect(alive(sharedPid)).toBe(true);
    expect(ownerOf("shared")).toBe("urn:pulumi:a::kslice-test::pulumi-nodejs:dynamic/kslice:Container::shared");
  });

  it("the second stack's preview is refused, naming the first stack's owner, and creates nothing", async () => {
    const p = await b.run("preview");
    expect(p.ok).toBe(false);
    expect(p.stderr).toContain("name");
    expect(p.stderr).toContain("already belongs to urn:pulumi:a::kslice-test::pulumi-nodejs:dynamic/kslice:Container::shared (stack kslice-test/a)");
    expect(p.stderr).toContain("adopt: true");
    expect(existsSync(bundle("own-b"))).toBe(false);
    expect(readFileSync(`/proc/${sharedPid}/cmdline`, "utf8")).toContain("sleep");
  });

  it("with adopt: true the second stack takes the container over without restarting it", async () => {
    b.config["kslice:adopt"] = "true";
    const r = await b.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect(r.json!.outputs.sharedPid).toBe(sharedPid);
    expect(ownerOf("shared")).toBe("urn:pulumi:b::kslice-test::pulumi-nodejs:dynamic/kslice:Container::shared");
  });

  it("destroying the first stack leaves the second's containers running and the prefix's setup in place, and says so", async () => {
    const ownB = (await b.run("outputs")).json!.outputs.ownPid as number;
    const d = await a.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    expect(d.stderr).toContain("container shared under prefix");
    expect(d.stderr).toContain(`prefix "${prefix}" is still used by stack kslice-test/b; its setup stays`);
    expect(existsSync(bundle("own-a"))).toBe(false);
    expect(alive(sharedPid)).toBe(true);
    expect(alive(ownB)).toBe(true);
    expect(existsSync(`/var/lib/${prefix}/owners`)).toBe(true);
    const p = await b.run("preview", "--expect-no-changes");
    expect(p.ok, p.stderr).toBe(true);
  });

  it("destroying the second stack, the last user, removes everything", async () => {
    const d = await b.run("destroy");
    expect(d.ok, d.stderr).toBe(true);
    expect(alive(sharedPid)).toBe(false);
    expect(leaksOf(prefix)).toEqual([]);
  });
});
