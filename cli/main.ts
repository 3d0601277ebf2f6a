#!/usr/bin/env node
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { execArgv, logArgv } from "../provider/kernel/observe/commands";
import type { PrefixObserver, PrefixSample } from "../provider/kernel/observe/sample";
import { closeAllTransports, openTransport } from "../provider/transport/open";
import { readBackup, takeBackup, unpackBackup } from "../provider/kernel/container/backup";
import { backupBase } from "../provider/kernel/container/rootfs";
import { connectionOf, openObserver, prefixOf, type HostOptions } from "./connect";
import { Dashboard, listenRefusal, ObservedHost, parseListen } from "./dashboard";
import { diffEvents, formatEvent, initialEvents } from "./events";
import { buildView, isEmpty, type PrefixView } from "./model";
import { renderPs } from "./ps";
import { reportHtml, reportSvg } from "./report";
import { runTop } from "./top";
import { UsageError, usageText } from "./usage";

const hostFlags = ["ssh", "key", "host-key", "insecure-ignore-host-key", "prefix", "runtime", "help"];
const commandFlags: Record<string, string[]> = {
  ps: ["json", "interval"],
  top: ["interval"],
  logs: ["follow", "tail"],
  exec: [],
  events: ["follow", "json", "interval"],
  report: ["out", "seconds", "interval"],
  dashboard: ["listen", "token", "local", "interval"],
  backup: ["out"],
  restore: ["out"],
};

const options = {
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

type Values = Omit<HostOptions, "ssh" | "key"> & { ssh?: string[]; key?: string[]; listen?: string; token?: string; local?: boolean } & { help?: boolean; json?: boolean; interval?: string; follow?: boolean; tail?: string; out?: string; seconds?: string };

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

async function knownContainer(obs: PrefixObserver, name: string | undefined, command: string): Promise<string> {
  if (!name) throw new UsageError(`kslice ${command} needs a container NAME`);
  const s = await obs.sample();
  if (!s.snapshot.bundles.has(name) && !s.snapshot.states.has(name)) {
    const known = [...s.snapshot.bundles].sort();
    throw new Error(`${obs.t.target}: no container "${name}" under prefix "${obs.prefix}" (${known.length ? `known: ${known.join(", ")}` : "it has no containers"})`);
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
      reject(new Error(missing ? "--out FILE.png needs rsvg-convert (apt-get install librsvg2-bin); .svg and .html need nothing" : `rsvg-convert: ${stderr.trim() || err.message}`));
    });
    child.stdin!.end(svg);
  });
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  let parsed;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values as Values;
  const [command, ...positionals] = parsed.positionals;
  if (v.help || !command) {
    process.stdout.write(usageText);
    return command || v.help ? 0 : 2;
  }
  const allowed = commandFlags[command];
  if (!allowed) throw new UsageError(`unknown command "${command}"; expected one of ${Object.keys(commandFlags).join(", ")}`);
  for (const flag of Object.keys(parsed.values)) {
    if (!hostFlags.includes(flag) && !allowed.includes(flag)) throw new UsageError(`kslice ${command} takes no --${flag}`);
  }
  if (command !== "exec" && rest.length) throw new UsageError(`kslice ${command} takes no arguments after "--"`);
  const extra = ["logs", "exec", "backup", "restore"].includes(command) ? positionals.slice(1) : positionals;
  if (extra.length) throw new UsageError(`kslice ${command}: unexpected argument ${JSON.stringify(extra[0])}`);

  if (command === "dashboard") return dashboard(v);
  if ((v.ssh?.length ?? 0) > 1 || (v.key?.length ?? 0) > 1) throw new UsageError(`kslice ${command} takes one --ssh and one --key (dashboard takes several)`);
  const one = { ...v, ssh: v.ssh?.[0], key: v.key?.[0] };
  if (command === "restore") return restore(one, positionals[0]);
  const obs = await openObserver(one);
  switch (command) {
    case "ps": {
      const { view } = await viewOf(obs, number("interval", v.interval, 1, 0) * 1000);
      process.stdout.write(v.json ? `${JSON.stringify(view, null, 2)}\n` : `${renderPs(view)}\n`);
      return 0;
    }
    case "top": {
      await viewOf(obs, 0);
      await runTop(obs, meta(obs), number("interval", v.interval, 2, 0.2) * 1000);
      return 0;
    }
    case "logs": {
      const name = await knownContainer(obs, positionals[0], "logs");
      const lines = number("tail", v.tail, 100, 0);
      return attach(obs, logArgv(obs.layout, name, { lines: Math.floor(lines), follow: !!v.follow }));
    }
    case "exec": {
      const name = await knownContainer(obs, positionals[0], "exec");
      if (!rest.length) throw new UsageError(`kslice exec ${name} needs a command after "--", e.g. kslice exec ${name} -- sh`);
      const tty = !!process.stdin.isTTY && !!process.stdout.isTTY;
      return attach(obs, execArgv(obs.runtime, obs.layout, name, rest, tty), tty);
    }
    case "events": {
      const intervalMs = number("interval", v.interval, 1, 0.2) * 1000;
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
    }
    case "backup": {
      const name = await knownContainer(obs, positionals[0], "backup");
      if (!v.out) throw new UsageError(`kslice backup ${name} needs --out FILE, a path on the container's host`);
      const r = await takeBackup(obs.t, obs.layout, obs.runtime, obs.prefix, name, v.out);
      const frozen = r.manifest.frozenMs ? `frozen ${r.manifest.frozenMs} ms` : "not running, not frozen";
      process.stdout.write(`${obs.t.target}: ${name} backed up to ${r.file}: ${r.bytes} bytes, sha256 ${r.sha256}, ${frozen}\n`);
      return 0;
    }
    case "report": {
      if (!v.out || !/\.(html|svg|png)$/.test(v.out)) throw new UsageError(`kslice report needs --out FILE.html, FILE.svg or FILE.png${v.out ? `; got ${JSON.stringify(v.out)}` : ""}`);
      const seconds = number("seconds", v.seconds, 30, 1);
      const intervalMs = number("interval", v.interval, 1, 0.2) * 1000;
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
      if (v.out.endsWith(".png")) await writePng(v.out, reportSvg(views));
      else writeFileSync(v.out, v.out.endsWith(".svg") ? reportSvg(views) : reportHtml(views));
      process.stderr.write(`kslice report: ${views.length} samples, ${views[views.length - 1]!.containers.length} containers, written to ${v.out}\n`);
      return 0;
    }
  }
  return 2;
}

/** Serves the live page until SIGINT or SIGTERM. */
async function dashboard(v: Values): Promise<number> {
  const { host, port } = parseListen(v.listen ?? "127.0.0.1:8090");
  const token = v.token ?? (process.env.KSLICE_DASHBOARD_TOKEN || undefined);
  const refusal = listenRefusal(host, token);
  if (refusal) throw new UsageError(refusal);
  const ssh = v.ssh ?? [];
  const keys = v.key ?? [];
  if (keys.length > 1 && keys.length !== ssh.length) throw new UsageError(`--key: got ${keys.length} for ${ssh.length} --ssh; give one --key for all, or one per --ssh in the same order`);
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
async function restore(v: HostOptions & { out?: string }, file: string | undefined): Promise<number> {
  if (!file) throw new UsageError("kslice restore needs a backup FILE, a path on the host");
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

main(process.argv.slice(2))
  .then(async (code) => {
    await closeAllTransports();
    process.exitCode = code;
  })
  .catch(async (e: unknown) => {
    await closeAllTransports().catch(() => undefined);
    if (e instanceof UsageError) {
      process.stderr.write(`kslice: ${e.message}\n(kslice --help for usage)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`kslice: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  });
