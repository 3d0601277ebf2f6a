// A stand-in for Pulumi's Node.js language host (`pulumi-language-nodejs`), which cannot be had
// here: the Go module proxy refuses its module and the npm `pulumi` package only downloads the CLI.
// The engine starts it as `pulumi-language-nodejs [flags] <engine address>` in the project
// directory and reads the gRPC port it prints on stdout. `Run` does what the official host does:
// it runs the SDK's own program runner (`@pulumi/pulumi/cmd/run`, resolved from the program's
// directory) with node, so TypeScript programs (ts-node) and `main` work as they do for users of
// the official CLI. Not done: the sync-invoke pipes (the SDK talks to the monitor directly, and
// deprecated synchronous invokes are unavailable), policy packs, code generation, debugging.
//
// This file is copied beside the CLI by scripts/setup-pulumi.sh, so it must stay self-contained:
// node built-ins only, with the gRPC definitions loaded from the project's own @pulumi/pulumi.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { join } from "node:path";
import type * as grpcJs from "@grpc/grpc-js";
import type * as languagePb from "@pulumi/pulumi/proto/language_pb";

/** Exit code by which the SDK says it already showed the user an actionable message. */
const bailExitCode = 32;

/** Where @pulumi/pulumi is found: the project directory first, then the fallback setup recorded. */
function sdkRequire(dirs: string[]): { req: NodeJS.Require; sdkDir: string } {
  const tried: string[] = [];
  for (const dir of dirs) {
    try {
      const req = createRequire(join(dir, "package.json"));
      const pkg = req.resolve("@pulumi/pulumi/package.json");
      const sdkDir = join(pkg, "..");
      return { req: createRequire(join(sdkDir, "package.json")), sdkDir };
    } catch {
      tried.push(dir);
    }
  }
  throw new Error(`@pulumi/pulumi is not installed in ${tried.join(" or ")}: run npm install`);
}

/** The SDK's own flags for cmd/run, as the official host builds them (constructArguments). */
export function runArguments(runPath: string, engineAddress: string, req: languagePb.RunRequest): string[] {
  const info = req.getInfo();
  const args = [runPath];
  const add = (flag: string, value: string | undefined) => {
    if (value) args.push(`--${flag}`, value);
  };
  add("monitor", req.getMonitorAddress());
  add("engine", engineAddress);
  add("organization", req.getOrganization());
  add("project", req.getProject());
  add("root-directory", info?.getRootDirectory());
  add("stack", req.getStack());
  add("pwd", info?.getProgramDirectory() || req.getPwd());
  if (req.getDryrun()) args.push("--dry-run");
  add("parallel", String(req.getParallel()));
  args.push(info?.getEntryPoint() || req.getProgram() || ".");
  args.push(...req.getArgsList());
  return args;
}

/** PULUMI_CONFIG as the SDK reads it: `<namespace>:config:<name>` keys (what the official host sends). */
export function configEnv(config: Iterable<[string, string]>): string {
  const out: Record<string, string> = {};
  for (const [key, value] of config) {
    const i = key.indexOf(":");
    out[i < 0 || key.slice(i + 1).startsWith("config:") ? key : `${key.slice(0, i)}:config:${key.slice(i + 1)}`] = value;
  }
  return JSON.stringify(out);
}

/**
 * Ends the host once its engine is gone (a `kill -9` of `pulumi`): nothing else would, since the
 * gRPC server keeps node alive. The same watch as the provider's (provider/reconcile/engine-
 * watchdog.ts, which this self-contained file cannot import): every `intervalMs` a TCP connect to
 * the engine's address; two refusals in a row, or a new parent (the CLI, our parent through the
 * wrapper's `exec`, died and we were re-parented), call `gone`.
 */
export function watchEngine(
  engineAddress: string,
  gone: (why: string) => void,
  intervalMs = Number(process.env.KSLICE_ENGINE_WATCH_MS ?? 2000),
): NodeJS.Timeout {
  const parent = process.ppid;
  const cut = engineAddress.lastIndexOf(":");
  const host = cut > 0 ? engineAddress.slice(0, cut).replace(/^\[|\]$/g, "") : "";
  const port = cut > 0 ? Number(engineAddress.slice(cut + 1)) : NaN;
  let misses = 0;
  let probing = false;
  const timer = setInterval(() => {
    if (process.ppid !== parent) return gone(`its parent ${parent} is gone`);
    if (!Number.isInteger(port) || probing) return;
    probing = true;
    const socket = connect({ host: host || "127.0.0.1", port });
    socket.setTimeout(intervalMs * 2);
    let settled = false;
    const done = (alive: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      probing = false;
      misses = alive ? 0 : misses + 1;
      if (misses >= 2) gone(`the engine at ${engineAddress} is gone`);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  }, intervalMs);
  timer.unref();
  return timer;
}

function main(): void {
  // Flags before the address (-tracing, -root, …) are accepted and ignored; the address comes last.
  const positional = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const engineAddress = positional[positional.length - 1] ?? "";
  const fallback = process.env.KSLICE_LANGUAGE_HOST_SDK ? [process.env.KSLICE_LANGUAGE_HOST_SDK] : [];
  const { req: sdk, sdkDir } = sdkRequire([process.cwd(), ...fallback]);
  const grpc = sdk("@grpc/grpc-js") as typeof grpcJs;
  const pb = sdk("./proto/language_pb.js") as typeof languagePb;
  const pluginPb = sdk("./proto/plugin_pb.js");
  const emptyPb = sdk("google-protobuf/google/protobuf/empty_pb.js");
  const service = sdk("./proto/language_grpc_pb.js").LanguageRuntimeService;
  const sdkVersion: string = JSON.parse(readFileSync(join(sdkDir, "package.json"), "utf8")).version;
  const running = new Set<ChildProcess>();

  type Unary<Req, Res> = (call: grpcJs.ServerUnaryCall<Req, Res>, done: grpcJs.sendUnaryData<Res>) => void;
  const unary =
    <Req, Res>(fn: (request: Req) => Res | Promise<Res>): Unary<Req, Res> =>
    (call, done) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => done(null, res),
          (e: unknown) => done({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) }),
        );
    };

  const run = (req: languagePb.RunRequest): Promise<languagePb.RunResponse> => {
    const info = req.getInfo();
    const programDir = info?.getProgramDirectory() || req.getPwd() || process.cwd();
    const res = new pb.RunResponse();
    let runPath: string;
    try {
      runPath = createRequire(join(programDir, "package.json")).resolve("@pulumi/pulumi/cmd/run");
    } catch {
      return Promise.resolve(res.setError("It looks like the Pulumi SDK has not been installed. Have you run npm install or yarn install?"));
    }
    const options = (info?.getOptions()?.toJavaScript() ?? {}) as { typescript?: boolean; tsconfig?: string; nodeargs?: string };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULUMI_CONFIG: configEnv(req.getConfigMap().toArray()),
      PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(req.getConfigsecretkeysList()),
    };
    // TypeScript is on unless Pulumi.yaml says `runtime.options.typescript: false` (the official default)
    if (options.typescript !== false) env.PULUMI_NODEJS_TYPESCRIPT = "true";
    if (options.tsconfig) env.PULUMI_NODEJS_TSCONFIG_PATH = options.tsconfig;
    const nodeArgs = options.nodeargs ? options.nodeargs.split(/\s+/).filter(Boolean) : [];
    return new Promise((resolve) => {
      // stdout and stderr go to the engine, which shows them as the program's output
      const child = spawn(process.execPath, [...nodeArgs, ...runArguments(runPath, engineAddress, req)], { env, stdio: ["ignore", "inherit", "inherit"] });
      running.add(child);
      child.on("error", (e) => {
        running.delete(child);
        resolve(res.setError(`Problem executing program (could not run language executor): ${e.message}`));
      });
      child.on("exit", (code, signal) => {
        running.delete(child);
        if (code === 0) resolve(res);
        else if (code === bailExitCode) resolve(res.setBail(true));
        else resolve(res.setError(code === null ? `Program exited on signal ${signal}` : `Program exited with non-zero exit code: ${code}`));
      });
    });
  };

  // `pulumi install`: npm install in the program's directory, its output streamed to the engine.
  const installDependencies = (call: grpcJs.ServerWritableStream<languagePb.InstallDependenciesRequest, languagePb.InstallDependenciesResponse>) => {
    const dir = call.request.getInfo()?.getProgramDirectory() || call.request.getDirectory() || process.cwd();
    const child = spawn("npm", ["install", "--no-audit", "--no-fund"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (b: Buffer) => call.write(new pb.InstallDependenciesResponse().setStdout(b)));
    child.stderr.on("data", (b: Buffer) => call.write(new pb.InstallDependenciesResponse().setStderr(b)));
    child.on("error", (e) => call.destroy(e));
    child.on("exit", (code) => (code === 0 ? call.end() : call.destroy(new Error(`npm install in ${dir} exited with code ${code}`))));
  };

  // The dependencies declared in the program's package.json, at their installed versions.
  const programDependencies = (req: languagePb.GetProgramDependenciesRequest) => {
    const dir = req.getInfo()?.getProgramDirectory() || req.getPwd() || process.cwd();
    const res = new pb.GetProgramDependenciesResponse();
    const pkgFile = join(dir, "package.json");
    if (!existsSync(pkgFile)) return res;
    const pkg = JSON.parse(readFileSync(pkgFile, "utf8")) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const local = createRequire(pkgFile);
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
      let version = "";
      try {
        version = JSON.parse(readFileSync(local.resolve(`${name}/package.json`), "utf8")).version;
      } catch {
        continue; // not installed, or its exports hide package.json
      }
      res.addDependencies(new pb.DependencyInfo().setName(name).setVersion(version));
    }
    return res;
  };

  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 << 20, "grpc.max_send_message_length": 400 << 20 });
  // Methods left out (code generation, packing, plugins run by the host) answer UNIMPLEMENTED.
  server.addService(service, {
    handshake: unary(() => new pb.LanguageHandshakeResponse()),
    // The dynamic-provider plugin (pulumi-resource-pulumi-nodejs) is found beside the CLI; kslice
    // and @pulumi/pulumi declare no other resource plugins, so nothing needs installing ahead.
    getRequiredPlugins: unary(() => new pb.GetRequiredPluginsResponse()),
    getRequiredPackages: unary(() => new pb.GetRequiredPackagesResponse()),
    getPluginInfo: unary(() => new pluginPb.PluginInfo().setVersion(sdkVersion)),
    run: unary(run),
    installDependencies,
    runtimeOptionsPrompts: unary(() => new pb.RuntimeOptionsResponse()),
    about: unary(() => {
      const version = spawnSync(process.execPath, ["--version"], { encoding: "utf8" }).stdout.trim();
      const res = new pb.AboutResponse().setExecutable(process.execPath).setVersion(version);
      res.getMetadataMap().set("languageHost", "kslice stand-in (scripts/language-host.ts)");
      return res;
    }),
    getProgramDependencies: unary(programDependencies),
    cancel: unary(() => {
      for (const child of running) child.kill("SIGINT");
      return new emptyPb.Empty();
    }),
  });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`pulumi-language-nodejs (kslice stand-in): could not listen: ${err.message}\n`);
      process.exit(1);
    }
    // the engine reads this line to find us
    process.stdout.write(`${port}\n`);
    watchEngine(engineAddress, (why) => {
      process.stderr.write(`pulumi-language-nodejs (kslice stand-in): ${why}; exiting\n`);
      // the program it runs talks to the same engine: it goes too
      for (const child of running) child.kill("SIGKILL");
      process.exit(1);
    });
  });
}

if (require.main === module) main();
