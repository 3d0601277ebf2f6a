/**
 * The CLI's commands as one registry: each entry's help, flags, operand and handler. `kslice --help`,
 * each command's help, the checks of a command line and the dispatch are all read from it.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { execArgv, logArgv } from "../provider/kernel/observe/commands";
import type { PrefixObserver, PrefixSample } from "../provider/kernel/observe/sample";
import { openTransport } from "../provider/transport/open";
import { readBackup, takeBackup, unpackBackup } from "../provider/kernel/container/backup";
import { backupBase } from "../provider/kernel/container/rootfs";
import { connectionOf, openObserver, prefixOf, type HostOptions } from "./connect";
import { Dashboard, listenRefusal, ObservedHost, parseListen } from "./dashboard";
import { diffEvents, formatEvent, initialEvents } from "./events";
import { buildView, isEmpty, type PrefixView } from "./model";
import { renderPs } from "./ps";
import { reportHtml, reportSvg } from "./report";
import { runTop } from "./top";
import { commandUsageText, UsageError, usageText, type HelpEntry } from "./usage";

/** Every flag any command takes, as node:util's parseArgs reads it; commands and host options name theirs. */
export const flags = {
  // repeatable for dashboard (one --key per --ssh, or one for all); once for the other commands
  ssh: { type: "string", multiple: true },
  key: { type: "string", multiple: true },
  "host-key": { type: "string" },
  "insecure-ignore-host-key": { type: "boolean" },
  prefix: { type: "string" },
  runtime: { type: "string" },
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  interval: { type: "string" },
  follow: { type: "boolean", short: "f" },
  tail: { type: "string" },
  out: { type: "string" },
  seconds: { type: "string" },
  listen: { type: "string" },
  token: { type: "string" },
  local: { type: "boolean" },
} as const;
export type Flag = keyof typeof flags;

/** How to reach the host: every command takes these. */
export const hostOptions: readonly (HelpEntry & { flags: readonly Flag[] })[] = [
  { flags: ["prefix"], usage: "--prefix P", summary: ["kslice prefix on the host (default: $KSLICE_PREFIX, else kslice)"] },
  { flags: ["ssh", "key"], usage: "--ssh USER@HOST[:PORT] --key FILE", summary: ["reach the host over SSH (default: this host)"] },
  { flags: ["host-key"], usage: '--host-key "ssh-ed25519 AAAA..."', summary: ["the host's expected public key"] },
  { flags: ["insecure-ignore-host-key"], usage: "--insecure-ignore-host-key", summary: ["skip host-key checking (throwaway hosts only)"] },
  { flags: ["runtime"], usage: "--runtime auto|runc|crun", summary: ["OCI runtime (default: auto, as the provider picks it)"] },
];
const hostFlags = new Set<Flag>(["help", ...hostOptions.flatMap((o) => o.flags)]);

/** The parsed flags, typed from the table above. */
type Values = {
  [F in Flag]?: (typeof flags)[F]["type"] extends "boolean" ? boolean : (typeof flags)[F] extends { multiple: true } ? string[] : string;
};

function number(flag: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag}: got ${JSON.stringify(raw)}; expected a number of at least ${min}`);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples the prefix and refuses one with nothing under it (a typo in --prefix, the wrong host). */
async function viewOf(obs: PrefixObserver, intervalMs: number): Promise<{ view: PrefixView; sample: PrefixSample }> {
  const first = await obs.sample();
  let sample = first;
  let prev: PrefixSample | undefined;
  if (intervalMs > 0) {
    await sleep(intervalMs);
    prev = first;
    sample = await obs.sample();
  }
  const view = buildView(meta(obs), sample, prev);
  if (isEmpty(view)) {
    throw new Error(`${obs.t.target}: nothing under prefix "${obs.prefix}" (no container, cgroup or network); is --prefix right?`);
  }
  return { view, sample };
}

function meta(obs: PrefixObserver) {
  return { host: obs.t.target, prefix: obs.prefix, cgroupVersion: obs.driver.version, runtime: obs.runtime };
}

function attach(obs: PrefixObserver, argv: string[], tty = false): Promise<number> {
  if (!obs.t.attach) throw new Error(`${obs.t.target}: this transport cannot stream a command`);
  return obs.t.attach(argv, { tty });
}

async function knownContainer(obs: PrefixObserver, name: string): Promise<string> {
  const s = await obs.sample();
  if (!s.snapshot.bundles.has(name) && !s.snapshot.states.has(name)) {
    const known = [...s.snapshot.bundles].sort();
    throw new Error(
      `${obs.t.target}: no container "${name}" under prefix "${obs.prefix}" (${known.length ? `known: ${known.join(", ")}` : "it has no containers"})`,
    );
  }
  return name;
}

/** PNG through librsvg's rsvg-convert, on this machine (not the host). */
async function writePng(out: string, svg: string): Promise<void> {
  const { execFile } = await import("node:child_process");
  await new Promise<void>((resolve, reject) => {
    const child = execFile("rsvg-convert", ["--format", "png", "--output", out], { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new Error(
          missing
            ? "--out FILE.png needs rsvg-convert (apt-get install librsvg2-bin); .svg and .html need nothing"
            : `rsvg-convert: ${stderr.trim() || err.message}`,
        ),
      );
    });
    child.stdin!.end(svg);
  });
}

/** What a command is given once its command line has passed the registry's checks. */
interface Invocation {
  values: Values;
  /** The host options of a one-host command (every command but dashboard). */
  host: HostOptions;
  /** Its NAME or FILE, for a command that takes one. */
  operand: string;
  /** What came after "--", for a command that takes it. */
  rest: string[];
}

/** One command: its help, what it accepts, and what it does. Help, flag checks and dispatch all read this. */
export interface Command extends HelpEntry {
  name: string;
  /** Its own flags, beside the host options. */
  flags: readonly Flag[];
  /** What its one positional argument is, as "needs …" says it (none: it takes no argument). */
  operand?: string;
  /** It takes a command after "--". */
  rest?: boolean;
  /** It takes several --ssh/--key (every other command reaches one host). */
  manyHosts?: boolean;
  run(a: Invocation): Promise<number>;
}

export const commands: readonly Command[] = [
  {
    name: "ps",
    usage: "ps [--json] [--interval S]",
    summary: ["every container, budget and network: status, usage vs limits, fail counters"],
    flags: ["json", "interval"],
    async run({ values: v, host }) {
      const intervalMs = number("interval", v.interval, 1, 0) * 1000;
      const { view } = await viewOf(await openObserver(host), intervalMs);
      process.stdout.write(v.json ? `${JSON.stringify(view, null, 2)}\n` : `${renderPs(view)}\n`);
      return 0;
    },
  },
  {
    name: "top",
    usage: "top [--interval S]",
    summary: ["ps refreshing in place, with bars, sorted by pressure (q or Ctrl-C quits)"],
    flags: ["interval"],
    async run({ values: v, host }) {
      const intervalMs = number("interval", v.interval, 2, 0.2) * 1000;
      const obs = await openObserver(host);
      await viewOf(obs, 0);
      await runTop(obs, meta(obs), intervalMs);
      return 0;
    },
  },
  {
    name: "logs",
    usage: "logs NAME [-f] [--tail N]",
    summary: ["a container's log (runtime, init output, supervisor lines)"],
    flags: ["follow", "tail"],
    operand: "a container NAME",
    async run({ values: v, host, operand }) {
      const lines = number("tail", v.tail, 100, 0);
      const obs = await openObserver(host);
      const name = await knownContainer(obs, operand);
      return attach(obs, logArgv(obs.layout, name, { lines: Math.floor(lines), follow: !!v.follow }));
    },
  },
  {
    name: "exec",
    usage: "exec NAME -- CMD [ARG...]",
    summary: ["run a command in a container (a TTY when stdin is one)"],
    flags: [],
    operand: "a container NAME",
    rest: true,
    async run({ host, operand, rest }) {
      if (!rest.length) throw new UsageError(`exec ${operand} needs a command after "--", e.g. kslice exec ${operand} -- sh`);
      const obs = await openObserver(host);
      const name = await knownContainer(obs, operand);
      const tty = !!process.stdin.isTTY && !!process.stdout.isTTY;
      return attach(obs, execArgv(obs.runtime, obs.layout, name, rest, tty), tty);
    },
  },
  {
    name: "events",
    usage: "events [-f] [--json] [--interval S]",
    summary: ["restarts, state changes, OOM kills and limit hits"],
    flags: ["follow", "json", "interval"],
    async run({ values: v, host }) {
      const intervalMs = number("interval", v.interval, 1, 0.2) * 1000;
      const obs = await openObserver(host);
      const print = (events: ReturnType<typeof initialEvents>) => {
        for (const e of events) process.stdout.write(v.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`);
      };
      let { view } = await viewOf(obs, 0);
      print(initialEvents(view));
      if (!v.follow) return 0;
      let stop = false;
      process.once("SIGINT", () => (stop = true));
      process.once("SIGTERM", () => (stop = true));
      while (!stop) {
        await sleep(intervalMs);
        const next = buildView(meta(obs), await obs.sample());
        print(diffEvents(view, next));
        view = next;
      }
      return 0;
    },
  },
  {
    name: "report",
    usage: "report --out FILE.html|.svg|.png [--seconds N] [--interval S]",
    summary: ["usage over a sampled window against limits, one chart per container"],
    flags: ["out", "seconds", "interval"],
    run: report,
  },
  {
    name: "dashboard",
    usage: "dashboard [--listen HOST:PORT] [--token SECRET] [--local] [--interval S]",
    summary: [
      "a live web page of one or many hosts (repeat --ssh/--key; --local adds",
      "this machine to them), pushed every second; read-only; listens on",
      "127.0.0.1:8090 by default, any other address needs --token (or",
      "$KSLICE_DASHBOARD_TOKEN); open it as http://HOST:PORT/?token=SECRET",
    ],
    flags: ["listen", "token", "local", "interval"],
    manyHosts: true,
    run: ({ values }) => dashboard(values),
  },
  {
    name: "backup",
    usage: "backup NAME --out FILE",
    summary: ["a container's writable layer and declaration as one checksummed file", "on its host (the container frozen while its layer is read)"],
    flags: ["out"],
    operand: "a container NAME",
    async run({ values: v, host, operand }) {
      if (!v.out) throw new UsageError(`backup ${operand} needs --out FILE, a path on the container's host`);
      const obs = await openObserver(host);
      const name = await knownContainer(obs, operand);
      const r = await takeBackup(obs.t, obs.layout, obs.runtime, obs.prefix, name, v.out);
      const frozen = r.manifest.frozenMs ? `frozen ${r.manifest.frozenMs} ms` : "not running, not frozen";
      process.stdout.write(`${obs.t.target}: ${name} backed up to ${r.file}: ${r.bytes} bytes, sha256 ${r.sha256}, ${frozen}\n`);
      return 0;
    },
  },
  {
    name: "restore",
    usage: "restore FILE [--out DIR]",
    summary: ["check a backup file on the host (every member's sha256) and say how a", "Container is made from it; --out DIR also unpacks it there"],
    flags: ["out"],
    operand: "a backup FILE, a path on the host",
    run: ({ values, host, operand }) => restore({ ...host, out: values.out }, operand),
  },
];

/** Parses the command line against the registry, refuses what the command does not take, and runs it. */
export async function runCommandLine(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  let parsed;
  try {
    parsed = parseArgs({ args: own, options: flags, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values as Values;
  const [name, ...positionals] = parsed.positionals;
  const command = commands.find((c) => c.name === name);
  if (v.help) {
    process.stdout.write(command ? commandUsageText(command, hostOptions) : usageText(commands, hostOptions));
    return 0;
  }
  if (!name) {
    process.stdout.write(usageText(commands, hostOptions));
    return 2;
  }
  if (!command) throw new UsageError(`unknown command "${name}"; expected one of ${commands.map((c) => c.name).join(", ")}`);
  try {
    return await invoke(command, v, positionals, rest);
  } catch (e) {
    if (e instanceof UsageError) e.command ??= command.name;
    throw e;
  }
}

async function invoke(command: Command, v: Values, positionals: string[], rest: string[]): Promise<number> {
  const name = command.name;
  for (const flag of Object.keys(v) as Flag[]) {
    if (!hostFlags.has(flag) && !command.flags.includes(flag)) throw new UsageError(`${name} takes no --${flag}`);
  }
  if (!command.rest && rest.length) throw new UsageError(`${name} takes no arguments after "--"`);
  const operand = command.operand ? positionals[0] : undefined;
  if (command.operand && !operand) throw new UsageError(`${name} needs ${command.operand}`);
  const extra = command.operand ? positionals.slice(1) : positionals;
  if (extra.length) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(extra[0])}`);
  if (!command.manyHosts && ((v.ssh?.length ?? 0) > 1 || (v.key?.length ?? 0) > 1)) {
    const many = commands
      .filter((c) => c.manyHosts)
      .map((c) => c.name)
      .join(", ");
    throw new UsageError(`${name} takes one --ssh and one --key (${many} takes several)`);
  }
  return command.run({ values: v, host: { ...v, ssh: v.ssh?.[0], key: v.key?.[0] }, operand: operand ?? "", rest });
}

/** Samples the prefix over a window and writes the charts: html, svg, or png through rsvg-convert. */
async function report({ values: v, host }: Invocation): Promise<number> {
  if (!v.out || !/\.(html|svg|png)$/.test(v.out))
    throw new UsageError(`report needs --out FILE.html, FILE.svg or FILE.png${v.out ? `; got ${JSON.stringify(v.out)}` : ""}`);
  const out = v.out;
  const seconds = number("seconds", v.seconds, 30, 1);
  const intervalMs = number("interval", v.interval, 1, 0.2) * 1000;
  const obs = await openObserver(host);
  const count = Math.max(2, Math.floor((seconds * 1000) / intervalMs) + 1);
  const first = await viewOf(obs, 0);
  const views: PrefixView[] = [];
  let prev = first.sample;
  const start = Date.now();
  for (let i = 1; i < count; i++) {
    // on a fixed clock: the time a sample takes does not stretch the window
    await sleep(Math.max(0, start + i * intervalMs - Date.now()));
    const cur = await obs.sample();
    views.push(buildView(meta(obs), cur, prev));
    prev = cur;
  }
  if (out.endsWith(".png")) await writePng(out, reportSvg(views));
  else writeFileSync(out, out.endsWith(".svg") ? reportSvg(views) : reportHtml(views));
  process.stderr.write(`kslice report: ${views.length} samples, ${views[views.length - 1]!.containers.length} containers, written to ${out}\n`);
  return 0;
}

/** Serves the live page until SIGINT or SIGTERM. */
async function dashboard(v: Values): Promise<number> {
  const { host, port } = parseListen(v.listen ?? "127.0.0.1:8090");
  const token = v.token ?? (process.env.KSLICE_DASHBOARD_TOKEN || undefined);
  const refusal = listenRefusal(host, token);
  if (refusal) throw new UsageError(refusal);
  const ssh = v.ssh ?? [];
  const keys = v.key ?? [];
  if (keys.length > 1 && keys.length !== ssh.length)
    throw new UsageError(`--key: got ${keys.length} for ${ssh.length} --ssh; give one --key for all, or one per --ssh in the same order`);
  if (v.local && !ssh.length) throw new UsageError("--local adds this machine beside --ssh hosts; without --ssh it is the default");
  const prefix = prefixOf({ prefix: v.prefix });
  const common = { prefix, runtime: v.runtime, "host-key": v["host-key"], "insecure-ignore-host-key": v["insecure-ignore-host-key"] };
  const sources = [
    ...(!ssh.length || v.local ? [new ObservedHost("local", prefix, common)] : []),
    // each --ssh is checked now (its form, its key file): a mistake is refused at start
    ...ssh.map((target, i) => {
      const options = { ...common, ssh: target, key: keys[i] ?? keys[0] };
      connectionOf(options);
      return new ObservedHost(target, prefix, options);
    }),
  ];
  const board = new Dashboard({ host, port, token, intervalMs: number("interval", v.interval, 1, 0.2) * 1000, sources });
  const url = await board.start();
  process.stderr.write(`kslice dashboard: serving ${url}${token ? "?token=…" : ""} (${sources.length} host(s), prefix ${prefix}; Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await board.stop();
  return 0;
}

/** Checks a backup on the host and says how a Container is made from it; --out DIR also unpacks it. */
async function restore(v: HostOptions & { out?: string }, file: string): Promise<number> {
  const t = openTransport(connectionOf(v));
  const info = await readBackup(t, file);
  const m = info.manifest;
  if (v.out) await unpackBackup(t, file, v.out);
  const base = backupBase(info.record);
  const rootfs = { backup: { file, ...(base ? {} : { rootfs: "<declare what the layer lay on>" }) } };
  process.stdout.write(
    [
      `${t.target}: ${file} is a whole kslice backup (sha256 ${info.sha256}, every member's sum matches)`,
      `  container ${m.container} under prefix ${m.prefix}, taken ${m.created}, layer ${m.layerBytes} bytes compressed`,
      ...(v.out ? [`  unpacked into ${v.out} (layer/ with owners container-relative, config.json, kslice.json)`] : []),
      `  a Container made from it: rootfs: ${JSON.stringify(rootfs)}`,
      "",
    ].join("\n"),
  );
  return 0;
}
