import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

  /** Stack config passed on every run; change it between runs to change the program's inputs. */
  readonly config: Record<string, string>;
  /** Secret config (encrypted in the stack's config and state). */
  readonly secrets: Record<string, string> = {};

  constructor(
    readonly dir: string,
    readonly opts: { program?: string; config?: Record<string, string>; stack?: string } = {},
  ) {
    this.config = { ...opts.config };
  }

  private args(op: string, flags: string[]): string[] {
    const args = [
      join(repoRoot, "dist/scripts/stack.js"), op, join(repoRoot, this.dir), "--json",
      "--stack", this.opts.stack ?? "test", "--workdir", join(this.backend, "work"), ...flags,
    ];
    if (this.opts.program) args.push("--program", join(repoRoot, this.opts.program));
    for (const [k, v] of Object.entries(this.config)) args.push("--config", `${k}=${v}`);
    for (const [k, v] of Object.entries(this.secrets)) args.push("--secret", `${k}=${v}`);
    return args;
  }

  private get env() {
    return { ...process.env, PULUMI_BACKEND_URL: `file://${this.backend}`, PULUMI_CONFIG_PASSPHRASE: "test" };
  }

  /** Starts a run without waiting for it (to interrupt it); its output is discarded. */
  start(op: string, ...flags: string[]): ChildProcess {
    return spawn(process.execPath, this.args(op, flags), { env: this.env, stdio: "ignore" });
  }

  run(op: string, ...flags: string[]): Promise<StackRun> {
    const args = this.args(op, flags);
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        args,
        { env: this.env, timeout: 600_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const line = stdout.trim().split("\n").pop();
          resolve({ ok: !err, json: line ? JSON.parse(line) : undefined, stderr });
        },
      );
    });
  }

  /** Destroys whatever is left and removes the backend. */
  async dispose(): Promise<void> {
    await this.run("destroy");
    rmSync(this.backend, { recursive: true, force: true });
  }
}
