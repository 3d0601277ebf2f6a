// examples/gitops and examples/devenv as templates: each directory copied into a fresh repository
// outside kslice's, which depends on the packed kslice tarball, as the README's steps say. The
// copy's own ci.sh applies and checks the gitops stack with the plain CLI there.
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { plainPulumiEnv, repoRoot } from "../helpers/stack";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));

interface Run {
  code: number;
  out: string;
  stdout: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 280_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout + stderr, stdout }),
    );
  });
}

describe("the examples copied into a repository of their own", () => {
  const work = mkdtempSync(join(tmpdir(), "kslice-template-"));
  const env = plainPulumiEnv(work, { PULUMI_STACK: "production" });
  delete env.GITHUB_REF_NAME;
  let tarball = "";

  /** The README's steps: copy the example, depend on the packed kslice and the same SDK, init a stack. */
  async function fromTemplate(example: string): Promise<string> {
    const repo = join(work, example);
    cpSync(join(repoRoot, "examples", example), repo, { recursive: true });
    for (const [cmd, args] of [
      ["git", ["init", "-q"]],
      ["npm", ["init", "-y"]],
      ["npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball, `@pulumi/pulumi@${pkg.dependencies["@pulumi/pulumi"]}`]],
      [
        "npm",
        [
          "install",
          "--prefer-offline",
          "--no-audit",
          "--no-fund",
          "--loglevel=error",
          "--save-dev",
          `typescript@${pkg.devDependencies.typescript}`,
          `@types/node@${pkg.devDependencies["@types/node"]}`,
        ],
      ],
      ["pulumi", ["stack", "init", "production", "--non-interactive"]],
    ] as [string, string[]][]) {
      const r = await run(cmd, args, repo, env);
      expect(r.code, `${cmd} ${args.join(" ")}: ${r.out}`).toBe(0);
    }
    return repo;
  }

  beforeAll(async () => {
    mkdirSync(join(work, "state"));
    const r = await run("npm", ["pack", "--pack-destination", work, "--loglevel=error"], repoRoot);
    expect(r.code, r.out).toBe(0);
    tarball = join(work, r.out.trim().split("\n").pop()!);
  });

  const gitopsPrefix = `${testPrefix}-tpl`;
  let deployed = "";
  afterAll(async () => {
    if (deployed) await run("pulumi", ["destroy", "--yes", "--skip-preview", "--non-interactive"], deployed, env);
    rmSync(work, { recursive: true, force: true });
    expect(leaksOf(gitopsPrefix)).toEqual([]);
  });

  it("gitops: the copy's ci.sh applies on main, then a branch's check is clean", async () => {
    const repo = await fromTemplate("gitops");
    for (const [k, v] of [
      ["prefix", gitopsPrefix],
      ["subnet", "10.247.63.0/24"],
    ]) {
      const r = await run("pulumi", ["config", "set", k!, v!, "--non-interactive"], repo, env);
      expect(r.code, r.out).toBe(0);
    }
    deployed = repo;
    let r = await run("bash", ["ci.sh"], repo, { ...env, CI_BRANCH: "main" });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/6 created/);
    expect(r.out).toContain("in sync: the host matches the repository");
    const out = JSON.parse((await run("pulumi", ["stack", "output", "--json", "--non-interactive"], repo, env)).stdout) as {
      network: { subnet: string };
      api: { status: string };
    };
    expect(out.network.subnet).toBe("10.247.63.0/24");
    expect(out.api.status).toBe("running");

    r = await run("bash", ["ci.sh"], repo, { ...env, CI_BRANCH: "feature/x" });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("in sync: the host matches the repository (6 same)");

    r = await run("pulumi", ["destroy", "--yes", "--skip-preview", "--non-interactive"], repo, env);
    expect(r.code, r.out).toBe(0);
    deployed = "";
    expect(leaksOf(gitopsPrefix)).toEqual([]);
  });

  it("devenv: the copy previews its stack (nothing is built: a preview changes no host)", async () => {
    const repo = await fromTemplate("devenv");
    const prefix = `${testPrefix}-tpd`;
    mkdirSync(join(work, "workspace"));
    for (const [k, v] of [
      ["prefix", prefix],
      ["subnet", "10.247.64.0/24"],
      ["workspace", join(work, "workspace")],
    ]) {
      const r = await run("pulumi", ["config", "set", k!, v!, "--non-interactive"], repo, env);
      expect(r.code, r.out).toBe(0);
    }
    const r = await run("pulumi", ["preview", "--json", "--non-interactive"], repo, env);
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.stdout).changeSummary).toEqual({ create: 4 });
    expect(leaksOf(prefix)).toEqual([]);
  });
});
