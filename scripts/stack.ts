// Runs an example (or a test program) through the real Pulumi engine with the Automation API.
//   node dist/scripts/stack.js <up|preview|refresh|destroy|outputs|rm|cancel> <dir> [--stack NAME] [--program FILE]
//        [--config key=value]... [--secret-env key=VAR]... [--secret-file key=PATH]... [--json]
// Secret values never appear in any process's arguments (every local user can read those): they
// come from an environment variable or a file and reach `pulumi config set --secret` on stdin.
// After an interrupted run: `cancel` removes the stack's lock, and `refresh --clear-pending-creates`
// forgets creates the engine never saw finish (kslice adopts what they made on the next up).
// Programs run inline in this process (no language host), which lets tests pass any compiled
// program and the JSON summary come back; the engine, backend and dynamic providers are the real
// ones. Plain `pulumi` in a project directory works too (scripts/language-host.ts).
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { LocalWorkspace, PulumiCommand, type EngineEvent, type InlineProgramArgs, type OutputMap } from "@pulumi/pulumi/automation";
import { defaultStateDir, pulumiEnv, repoRoot } from "./pulumi-env";
import { failureMessage } from "./stack-failure";

/** The engine's display as streamed to the user, so that a failure does not print it again. */
let streamed = "";
let op = "";

interface Cli {
  op: string;
  dir: string;
  stack: string;
  program?: string;
  /** Where the stack's config file goes; tests pass a temp dir so nothing is written in the repo. */
  workDir?: string;
  config: Record<string, string>;
  secrets: Record<string, string>;
  json: boolean;
  extra: { expectNoChanges?: boolean; refresh?: boolean; parallel?: number; clearPendingCreates?: boolean; continueOnError?: boolean };
}

function parseArgs(argv: string[]): Cli {
  const [op, dir, ...rest] = argv;
  const ops = ["up", "preview", "refresh", "destroy", "outputs", "rm", "cancel"];
  if (!op || !ops.includes(op) || !dir) {
    throw new Error(
      `usage: stack <${ops.join("|")}> <example dir> [--stack NAME] [--program FILE] [--workdir DIR] [--config k=v] [--secret-env k=VAR] [--secret-file k=PATH] [--json]`,
    );
  }
  const cli: Cli = { op, dir: resolve(dir), stack: "dev", config: {}, secrets: {}, json: false, extra: {} };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const next = () => {
      const v = rest[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--stack") cli.stack = next();
    else if (a === "--program") cli.program = resolve(next());
    else if (a === "--workdir") cli.workDir = resolve(next());
    else if (a === "--config") {
      const [k, ...v] = next().split("=");
      cli.config[k!] = v.join("=");
    } else if (a === "--secret-env" || a === "--secret-file") {
      const [k, ...v] = next().split("=");
      const from = v.join("=");
      const value = a === "--secret-env" ? process.env[from] : readFileSync(from, "utf8").replace(/\n$/, "");
      if (value === undefined) throw new Error(`--secret-env ${k}=${from}: the environment variable ${from} is not set`);
      cli.secrets[k!] = value;
    } else if (a === "--secret") {
      throw new Error(
        "--secret k=v would put the value in the process's arguments, readable by every local user: use --secret-env k=VAR or --secret-file k=PATH",
      );
    } else if (a === "--json") cli.json = true;
    else if (a === "--expect-no-changes") cli.extra.expectNoChanges = true;
    else if (a === "--refresh") cli.extra.refresh = true;
    else if (a === "--parallel") cli.extra.parallel = Number(next());
    else if (a === "--clear-pending-creates") cli.extra.clearPendingCreates = true;
    // one failing resource does not stop the others (a dead host fails only its own)
    else if (a === "--continue-on-error") cli.extra.continueOnError = true;
    else throw new Error(`unknown option ${a}`);
  }
  return cli;
}

function projectName(dir: string): string {
  const yaml = readFileSync(join(dir, "Pulumi.yaml"), "utf8");
  const m = /^name:\s*(\S+)/m.exec(yaml);
  if (!m) throw new Error(`${dir}/Pulumi.yaml has no name`);
  return m[1]!;
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  op = cli.op;
  const env = pulumiEnv();
  Object.assign(process.env, env);
  // the state holds every secret (encrypted) and the resources' outputs: the owner's only. Only a
  // file backend is a directory here (postgres://, s3://… are someone else's to keep).
  const backend = env.PULUMI_BACKEND_URL!;
  if (backend.startsWith("file://")) {
    const stateDir = backend.slice("file://".length);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    if (stateDir === defaultStateDir) chmodSync(stateDir, 0o700);
  }
  // The compiled program sits in dist/ at the example's place in the tree.
  const programFile = cli.program ?? join(repoRoot, "dist", relative(repoRoot, cli.dir), "index.js");
  if (!existsSync(programFile)) throw new Error(`${programFile} not found: run npm run build`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(programFile);
  const program: InlineProgramArgs["program"] = mod.default ?? mod;
  const pulumiCommand = await PulumiCommand.get({ root: dirname(dirname(env.KSLICE_PULUMI_BIN!)) });
  let workDir = cli.dir;
  if (cli.workDir) {
    mkdirSync(cli.workDir, { recursive: true });
    // main points at the compiled program relative to the example; inline programs do not use it
    writeFileSync(join(cli.workDir, "Pulumi.yaml"), readFileSync(join(cli.dir, "Pulumi.yaml"), "utf8").replace(/^main:.*\n/m, ""));
    // the dynamic-provider plugin resolves @pulumi/pulumi and kslice from its working directory
    if (!existsSync(join(cli.workDir, "node_modules"))) symlinkSync(join(repoRoot, "node_modules"), join(cli.workDir, "node_modules"));
    workDir = cli.workDir;
  }
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: cli.stack, projectName: projectName(cli.dir), program },
    { workDir, pulumiCommand, envVars: env },
  );
  // one CLI call for all of them (a call per key cost ~0.4 s each on a quiet 2-core machine)
  const plain = Object.entries(cli.config);
  if (plain.length) await stack.setAllConfig(Object.fromEntries(plain.map(([k, v]) => [k, { value: v }])));
  // not stack.setConfig: the Automation API passes the value as an argument
  for (const [k, v] of Object.entries(cli.secrets)) {
    execFileSync(env.KSLICE_PULUMI_BIN!, ["config", "set", "--secret", k, "--stack", cli.stack, "--non-interactive"], {
      cwd: workDir,
      env,
      input: v,
      stdio: ["pipe", "ignore", "inherit"],
    });
  }
  // The engine's own display goes to stderr; --json keeps stdout for the machine-readable result.
  const onOutput = (s: string) => {
    streamed += s;
    process.stderr.write(s);
  };
  const common = { onOutput, color: "never" as const };
  let summary: unknown;
  // the up's result carries the outputs (it reads them itself), and a destroyed stack has none:
  // reading them again costs two CLI processes
  let outs: OutputMap | undefined;
  switch (cli.op) {
    case "up": {
      const r = await stack.up({ ...common, refresh: cli.extra.refresh, parallel: cli.extra.parallel, continueOnError: cli.extra.continueOnError });
      summary = r.summary.resourceChanges;
      outs = r.outputs;
      break;
    }
    case "preview": {
      // --diff shows every property's change but leaves out the engine's diagnostics, and with them
      // what providers print (kslice's warnings and notes): they follow it, as a plain preview shows them
      const notes: string[] = [];
      const onEvent = (e: EngineEvent) => {
        const d = e.diagnosticEvent;
        if (d && (d.severity === "info" || d.severity === "info#err") && !d.ephemeral && d.message.trim()) notes.push(d.message.trimEnd());
      };
      const r = await stack.preview({ ...common, refresh: cli.extra.refresh, expectNoChanges: cli.extra.expectNoChanges, diff: true, onEvent });
      if (notes.length) onOutput(`Diagnostics:\n${notes.map((m) => `    ${m}`).join("\n")}\n`);
      summary = r.changeSummary;
      break;
    }
    case "refresh":
      summary = (await stack.refresh({ ...common, clearPendingCreates: cli.extra.clearPendingCreates })).summary.resourceChanges;
      break;
    case "cancel":
      // the file backend's cancel removes the lock an interrupted run left
      await stack.cancel();
      break;
    case "destroy":
      summary = (await stack.destroy({ ...common, parallel: cli.extra.parallel })).summary.resourceChanges;
      outs = {};
      break;
    case "rm":
      await stack.workspace.removeStack(cli.stack);
      outs = {};
      break;
  }
  outs ??= await stack.outputs();
  const outputs = Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.secret ? "[secret]" : v.value]));
  const version = pulumiCommand.version?.toString();
  if (cli.json) {
    process.stdout.write(`${JSON.stringify({ op: cli.op, pulumiVersion: version, summary, outputs })}\n`);
  } else {
    process.stdout.write(doneLine(cli.op, version, summary));
    if (cli.op !== "destroy" && cli.op !== "rm") process.stdout.write(`outputs:\n${JSON.stringify(outputs, null, 2)}\n`);
  }
}

/** The human line after a run: the engine's change summary where the operation has one (not rm, cancel, outputs). */
export function doneLine(op: string, version: string | undefined, summary: unknown): string {
  return `\n${op} done with pulumi v${version}${summary === undefined ? "" : `; changes: ${JSON.stringify(summary)}`}\n`;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${failureMessage(e, op, streamed)}\n`);
    process.exit(1);
  });
}
