import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { alive } from "../helpers/procs";
import { repoRoot, plainPulumiEnv } from "../helpers/stack";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
const pinned: string = pkg.dependencies["@pulumi/pulumi"];
/** The CLI setup built (scripts/pulumi-env.ts), with the language host setup put beside it. */

interface Run {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 280_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }));
  });
}

// A project as an IaC repository would have it: its own package.json depending on the packed
// tarball, a TypeScript program (run through the SDK's ts-node by the language host, nothing
// compiled ahead), and the real `pulumi` CLI run in its directory.
describe("the packed package in a project of its own, driven by the pulumi CLI", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-pkg-"));
  const project = join(work, "project");
  const prefix = `${testPrefix}-pkg`;
  // the offline settings of scripts/pulumi-env.ts, with a backend of its own
  const env = plainPulumiEnv(work, { PULUMI_PARALLEL_DIFF: "true" });
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive", "--stack", "test"], project, env);
  let tarball = "";
  let deployed = false;

  afterAll(async () => {
    if (deployed) await pulumi("destroy", "--yes", "--skip-preview");
    rmSync(work, { recursive: true, force: true });
  });

  it("npm pack (its prepare builds the library) holds the library only, with types, maps and LICENSE", async () => {
    const r = await run("npm", ["pack", "--pack-destination", work, "--loglevel=error"], repoRoot);
    expect(r.ok, r.stderr).toBe(true);
    tarball = join(work, r.stdout.trim().split("\n").pop()!);
    const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((f) => f.replace(/^package\//, ""));
    for (const f of [
      "LICENSE",
      "README.md",
      "package.json",
      "dist/index.js",
      "dist/index.d.ts",
      "docs/API.md",
      "dist/index.js.map",
      "dist/provider/reconcile/lifecycles.js",
      "dist/schema/container.d.ts",
      "dist/provider/kernel/container/seccomp-default.json",
      "dist/cli/main.js",
    ]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /(^|\/)(test|bench|scripts|examples|lab)\/|\.test\.|^config\.json$|\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
    expect(readFileSync(join(repoRoot, "LICENSE"), "utf8")).toContain("Apache License\n                           Version 2.0");
  });

  it("installs into a fresh project outside the repository with one @pulumi/pulumi", async () => {
    expect(tarball).not.toBe("");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify(
        {
          name: "kslice-consumer",
          private: true,
          main: "index.ts",
          dependencies: { kslice: `file:${tarball}`, "@pulumi/pulumi": pinned },
          devDependencies: { typescript: pkg.devDependencies.typescript, "@types/node": pkg.devDependencies["@types/node"] },
        },
        null,
        2,
      ),
    );
    writeFileSync(join(project, "Pulumi.yaml"), "name: kslice-consumer\nruntime: nodejs\ndescription: a project depending on the packed kslice\n");
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify(
        {
          compilerOptions: { strict: true, target: "ES2022", module: "node16", moduleResolution: "node16", skipLibCheck: true, outDir: "bin" },
          files: ["index.ts"],
        },
        null,
        2,
      ),
    );
    writeFileSync(
      join(project, "index.ts"),
      [
        `import * as pulumi from "@pulumi/pulumi";`,
        `import * as kslice from "kslice";`,
        ``,
        `const config = new pulumi.Config();`,
        `const host = new kslice.Host("local", { connection: { type: "local" }, prefix: config.require("prefix") });`,
        `const budget = new kslice.ResourceLimits("budget", { host, limits: { memory: { max: "128Mi" }, pids: { max: 64 } } });`,
        `const box = new kslice.Container("box", {`,
        `  host,`,
        `  parent: budget,`,
        `  command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],`,
        `  limits: { memory: { max: config.get("boxMemory") ?? "32Mi" }, pids: { max: 8 } },`,
        `});`,
        `export const pid = box.pid;`,
        `export const status = box.status;`,
        `export const cgroupPath = box.cgroupPath;`,
        ``,
      ].join("\n"),
    );
    const r = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], project);
    expect(r.ok, r.stderr).toBe(true);
    const installed = (p: string) => JSON.parse(readFileSync(join(project, "node_modules", p, "package.json"), "utf8")).version;
    expect(installed("kslice")).toBe(pkg.version);
    expect(installed("@pulumi/pulumi")).toBe(pinned);
    // a second SDK copy would give the program and kslice different Resource classes
    expect(existsSync(join(project, "node_modules", "kslice", "node_modules", "@pulumi"))).toBe(false);
    // the types resolve through the exports map, as the user's editor and ts-node see them
    const tsc = await run(process.execPath, [join(project, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", project], project);
    expect(tsc.ok, tsc.stdout).toBe(true);
  });

  it("pulumi preview, up, preview --expect-no-changes and destroy in the project directory", async () => {
    expect(existsSync(join(project, "node_modules", "kslice"))).toBe(true);
    mkdirSync(join(work, "state"));
    let r = await run("pulumi", ["stack", "init", "test", "--non-interactive"], project, env);
    expect(r.ok, r.stderr).toBe(true);
    r = await pulumi("config", "set", "prefix", prefix);
    expect(r.ok, r.stderr).toBe(true);

    r = await pulumi("preview", "--json");
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    expect(JSON.parse(r.stdout).changeSummary).toEqual({ create: 4 });

    deployed = true;
    r = await pulumi("up", "--yes", "--skip-preview");
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    expect(r.stdout).toMatch(/4 created/);
    r = await pulumi("stack", "output", "--json");
    const out = JSON.parse(r.stdout) as { pid: number; status: string; cgroupPath: string };
    expect(out.status).toBe("running");
    expect(alive(out.pid)).toBe(true);
    expect(readFileSync(`/proc/${out.pid}/cgroup`, "utf8")).toContain(`/${prefix}/`);

    r = await pulumi("preview", "--expect-no-changes", "--json");
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    expect(JSON.parse(r.stdout).changeSummary).toEqual({ same: 4 });

    // a config change reaches the kernel through the program: a live update, same init
    r = await pulumi("config", "set", "boxMemory", "48Mi");
    r = await pulumi("up", "--yes", "--skip-preview");
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    expect(r.stdout).toMatch(/1 updated/);
    const after = JSON.parse((await pulumi("stack", "output", "--json")).stdout) as { pid: number };
    expect(after.pid).toBe(out.pid);

    r = await pulumi("destroy", "--yes", "--skip-preview");
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    deployed = false;
    expect(JSON.parse((await pulumi("stack", "output", "--json")).stdout)).toEqual({});
    expect(alive(out.pid)).toBe(false);
    expect(leaksOf(prefix)).toEqual([]);
  });
});

// The README's `cd examples/quickstart && pulumi up`, here as a preview (nothing on the host
// changes): the language host runs the compiled example that Pulumi.yaml names as main.
describe("pulumi preview in examples/quickstart with the plain CLI", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-qs-"));
  const configFile = join(work, "Pulumi.test.yaml");
  const env = plainPulumiEnv(work, { PULUMI_BACKEND_URL: `file://${work}` });
  const dir = join(repoRoot, "examples", "quickstart");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("previews the seven resources of the example", async () => {
    let r = await run("pulumi", ["stack", "init", "test", "--non-interactive"], dir, env);
    expect(r.ok, r.stderr).toBe(true);
    // its own prefix, subnet and port, so that a demo stack up on this host does not collide
    const config = {
      "kslice:prefix": `${testPrefix}-qsp`,
      "kslice:subnet": "10.247.61.0/24",
      "kslice:dynamicRange": "10.247.61.128/25",
      "kslice:webAddress": "10.247.61.10",
      "kslice:webPort": "18977",
    };
    for (const [k, v] of Object.entries(config)) {
      r = await run("pulumi", ["config", "set", k, v, "--stack", "test", "--config-file", configFile], dir, env);
      expect(r.ok, r.stderr).toBe(true);
    }
    r = await run("pulumi", ["preview", "--json", "--stack", "test", "--config-file", configFile, "--non-interactive"], dir, env);
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    expect(JSON.parse(r.stdout).changeSummary).toEqual({ create: 7 });
    expect(leaksOf(`${testPrefix}-qsp`)).toEqual([]);
  });
});
