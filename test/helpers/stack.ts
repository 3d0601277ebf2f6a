import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const repoRoot = join(__dirname, "..", "..");

export interface StackRun {
  ok: boolean;
  json?: { op: string; pulumiVersion: string; summary: Record<string, number> | undefined; outputs: Record<string, unknown> };
  stderr: string;
}

/** A stack of an example driven by the real CLI (scripts/stack.ts) with a backend of its own. */
export class TestStack {
  readonly backend = mkdtempSync(join(tmpdir(), "kslice-backend-"));
  /** A throwaway backend's passphrase, made per stack (the backend dir is 0700 and removed after). */
  readonly passphrase = randomBytes(16).toString("hex");

  /** Stack config passed on every run; change it between runs to change the program's inputs. */
  readonly config: Record<string, string>;
  /** Secret config (encrypted in the stack's config and state). */
  readonly secrets: Record<string, string> = {};

  constructor(
    readonly dir: string,
    readonly opts: {
      program?: string;
      config?: Record<string, string>;
      stack?: string;
      /** Extra environment for every run (e.g. the engine's settings). */
      env?: Record<string, string>;
    } = {},
  ) {
    this.config = { ...opts.config };
  }

  /** The runner's command line and environment for one operation (secrets go in the environment). */
  command(op: string, ...flags: string[]): { argv: string[]; env: NodeJS.ProcessEnv } {
    const argv = [
      process.execPath,
      join(repoRoot, "dist/scripts/stack.js"),
      op,
      join(repoRoot, this.dir),
      "--json",
      "--stack",
      this.opts.stack ?? "test",
      "--workdir",
      join(this.backend, "work"),
      ...flags,
    ];
    if (this.opts.program) argv.push("--program", join(repoRoot, this.opts.program));
    for (const [k, v] of Object.entries(this.config)) argv.push("--config", `${k}=${v}`);
    // values through the environment: never in a process's arguments
    const secretEnv: Record<string, string> = {};
    Object.entries(this.secrets).forEach(([k, v], i) => {
      secretEnv[`KSLICE_TEST_SECRET_${i}`] = v;
      argv.push("--secret-env", `${k}=KSLICE_TEST_SECRET_${i}`);
    });
    return {
      argv,
      env: { ...process.env, ...this.opts.env, ...secretEnv, PULUMI_BACKEND_URL: `file://${this.backend}`, PULUMI_CONFIG_PASSPHRASE: this.passphrase },
    };
  }

  /** Starts a run without waiting for it (to interrupt it); its output is discarded. */
  start(op: string, ...flags: string[]): ChildProcess {
    const { argv, env } = this.command(op, ...flags);
    return spawn(argv[0]!, argv.slice(1), { env, stdio: "ignore" });
  }

  run(op: string, ...flags: string[]): Promise<StackRun> {
    const { argv, env } = this.command(op, ...flags);
    return new Promise((resolve) => {
      execFile(argv[0]!, argv.slice(1), { env, timeout: 600_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve(parseRun(!err, stdout, stderr)));
    });
  }

  /** The stack's resources as the state holds them (`pulumi stack export`): type, name and outputs. */
  exportResources(): { type: string; urn: string; outputs: Record<string, unknown> }[] {
    const { env } = this.command("outputs");
    const bin = readFileSync(join(repoRoot, "node_modules", ".kslice-pulumi-bin"), "utf8").trim();
    const out = execFileSync(join(bin, "pulumi"), ["stack", "export", "--stack", this.opts.stack ?? "test", "--show-secrets"], {
      cwd: join(this.backend, "work"),
      env,
      encoding: "utf8",
    });
    return (JSON.parse(out).deployment.resources ?? []) as { type: string; urn: string; outputs: Record<string, unknown> }[];
  }

  /** Destroys whatever is left and removes the backend. */
  async dispose(): Promise<void> {
    const r = await this.run("destroy");
    // a leak check usually follows: without this, a failed destroy shows only as what it left
    if (!r.ok) console.error(`[stack] destroy failed:\n${r.stderr.split("\n").slice(-40).join("\n")}`);
    rmSync(this.backend, { recursive: true, force: true });
  }
}

/** The directory of the Pulumi CLI setup.sh recorded (with the language host beside it). */
export const pulumiBin = (): string => readFileSync(join(repoRoot, "node_modules", ".kslice-pulumi-bin"), "utf8").trim();

/**
 * The environment for the plain `pulumi` CLI in a project of a test's own: the offline settings of
 * scripts/pulumi-env.ts with a file backend under `work`, and `extra` on top.
 */
export function plainPulumiEnv(work: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${pulumiBin()}:${process.env.PATH}`,
    PULUMI_BACKEND_URL: `file://${join(work, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: "test",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    ...extra,
  };
}

/** A runner's result from its output (--json: the last line of stdout). */
export function parseRun(ok: boolean, stdout: string, stderr: string): StackRun {
  const line = stdout.trim().split("\n").pop();
  return { ok, json: line ? JSON.parse(line) : undefined, stderr };
}
