// Benchmark: N containers through kslice and the real Pulumi engine, against baselines measured in
// the same run (the engine's own floor, raw runc, podman). Prints figures and ratios; asserts nothing.
//   node dist/bench/containers.js [N ...] [--parallel P] [--no-podman]
// Everything created carries a prefix of its own (kslice-b<random>) and is removed at the end;
// scripts/leaks.sh PREFIX is run last and a leak makes the run fail.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { containerArgs } from "../schema/container";
import { ociSpec } from "../provider/kernel/container/oci-spec";
import { ensureLower } from "../provider/kernel/container/rootfs";
import { hostLayout } from "../provider/kernel/container/layout";
import { LocalTransport } from "../provider/transport/local";

const repoRoot = join(__dirname, "..", "..");
const command = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];
const MiB = 2 ** 20;

// ---------- arguments ----------

interface Opts {
  ns: number[];
  parallel: number;
  podman: boolean;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { ns: [], parallel: 16, podman: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--parallel") o.parallel = Number(argv[++i]);
    else if (a === "--no-podman") o.podman = false;
    else if (/^\d+$/.test(a)) o.ns.push(Number(a));
    else throw new Error(`usage: containers.js [N ...] [--parallel P] [--no-podman]; got ${JSON.stringify(a)}`);
  }
  if (!o.ns.length) o.ns = [10, 50, 200];
  for (const n of o.ns) if (n < 1 || n > 1000) throw new Error(`N must be within 1..1000 (bounded); got ${n}`);
  if (!(o.parallel >= 1 && o.parallel <= 256)) throw new Error(`--parallel must be within 1..256`);
  return o;
}

// ---------- small helpers ----------

const now = () => performance.now();
const s = (ms: number) => (ms / 1000).toFixed(2);
const ms1 = (ms: number) => ms.toFixed(1);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !(b > 0) ? "n/a" : `${(a / b).toFixed(2)}×`;
let aborted = false;

function sh(script: string, timeoutMs = 60_000): { code: number; out: string; err: string } {
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * MiB });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error.message) : "") };
}

function must(script: string, timeoutMs = 60_000): string {
  const r = sh(script, timeoutMs);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${script}\n${r.err.trim()}`);
  return r.out;
}

function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(header), w.map((x) => "-".repeat(x)).join("  "), ...rows.map(line)].join("\n");
}

function say(msg: string): void {
  process.stdout.write(`${msg}\n`);
}
function progress(msg: string): void {
  process.stdout.write(`  · ${msg}\n`);
}

// ---------- machine facts ----------

function cgroupMode(): string {
  const t = sh("stat -fc %T /sys/fs/cgroup").out.trim();
  if (t === "cgroup2fs") return "unified (v2)";
  const u = sh("stat -fc %T /sys/fs/cgroup/unified 2>/dev/null").out.trim();
  return u === "cgroup2fs" ? "hybrid (v1 controllers + v2 tree)" : "legacy (v1)";
}

function nofileHard(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === "unlimited" || hard === undefined ? 1024 * 1024 : Number(hard);
}

function limitHard(what: string): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith(what));
  const hard = line?.trim().split(/\s{2,}/)[2];
  return hard === "unlimited" || hard === undefined ? 4 * 1024 * 1024 : Number(hard);
}

// ---------- processes and memory ----------

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  cgroup: string;
}

function procs(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, "utf8");
      out.push({
        pid: Number(d),
        ppid: Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? 0),
        comm: /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "",
        cmdline: readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ").trim(),
        cgroup: readFileSync(`/proc/${d}/cgroup`, "utf8"),
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** VmRSS and Pss of a process in KiB (0 when it is gone). */
function memOf(pid: number): { rss: number; pss: number } {
  try {
    const rss = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    const pss = Number(/^Pss:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    return { rss, pss };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

interface HostMem {
  /** Processes seen in the first sample. */
  procs: string[];
  /** Most processes seen in one sample. */
  maxProcs: number;
  samples: number;
  /** Mean over the samples of the summed VmRSS / Pss, KiB. */
  rssKiB: number;
  pssKiB: number;
  /** CPU of the long-lived processes (with the children they reaped) over the window, % of one core. */
  cpuPct: number;
}

/** utime + stime + cutime + cstime of a process, in clock ticks. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return undefined;
  }
}

const clockTicks = Number(sh("getconf CLK_TCK").out.trim()) || 100;

/**
 * Samples, every 250 ms for windowMs, the processes find() returns: their summed RSS and PSS
 * (mean of the samples, so that short-lived children count as often as they exist) and the CPU
 * of the long-lived ones (longLived) over the window.
 */
async function sampleHost(find: () => Proc[], longLived: (p: Proc) => boolean, windowMs = 5000): Promise<HostMem> {
  const first = find();
  const t0 = now();
  const start = new Map(first.filter(longLived).map((p) => [p.pid, cpuTicks(p.pid)]));
  let rss = 0;
  let pss = 0;
  let samples = 0;
  let maxProcs = 0;
  for (let i = 0; i < 1000 && now() - t0 < windowMs; i++) {
    const ps = i === 0 ? first : find();
    maxProcs = Math.max(maxProcs, ps.length);
    for (const p of ps) {
      const m = memOf(p.pid);
      rss += m.rss;
      pss += m.pss;
    }
    samples++;
    await new Promise((r) => setTimeout(r, 250));
  }
  const secs = (now() - t0) / 1000;
  let ticks = 0;
  for (const [pid, a] of start) {
    const b = cpuTicks(pid);
    if (a !== undefined && b !== undefined) ticks += b - a;
  }
  return {
    procs: first.map((p) => `${p.pid} ${p.cmdline.slice(0, 60)}`),
    maxProcs,
    samples,
    rssKiB: samples ? rss / samples : 0,
    pssKiB: samples ? pss / samples : 0,
    cpuPct: secs > 0 ? (100 * ticks) / clockTicks / secs : 0,
  };
}

/**
 * kslice's processes on the host outside every container cgroup: those whose command line names
 * kslice's own dirs (the supervisor: sh /var/lib/<prefix>/supervisor.sh), plus their children.
 */
function ksliceHostProcs(prefix: string): Proc[] {
  const all = procs();
  const inContainer = (p: Proc) => p.cgroup.includes(`:/${prefix}/`);
  const marks = [`/var/lib/${prefix}/`, `/run/${prefix}/`];
  const mine = new Set<number>([process.pid]);
  const roots = all.filter((p) => !mine.has(p.pid) && !inContainer(p) && marks.some((m) => p.cmdline.includes(m)));
  const ids = new Set(roots.map((p) => p.pid));
  const kids = all.filter((p) => ids.has(p.ppid) && !ids.has(p.pid) && !inContainer(p));
  return [...roots, ...kids];
}

// ---------- the engine runs ----------

interface OpResult {
  op: string;
  ok: boolean;
  ms: number;
  /** The engine's own "Duration:" line, when it printed one. */
  engine?: string;
  summary?: Record<string, number>;
  outputs?: Record<string, unknown>;
  error?: string;
}

let current: ReturnType<typeof spawn> | undefined;

interface Ctx {
  prefix: string;
  tmp: string;
  backend: string;
  opts: Opts;
  logs: string;
}

function runStack(c: Ctx, op: string, program: string, stack: string, n: number, timeoutMs: number): Promise<OpResult> {
  const args = [
    join(repoRoot, "dist/scripts/stack.js"), op, join(repoRoot, "bench/programs"), "--json",
    "--stack", stack, "--workdir", join(c.tmp, "work"),
    "--program", join(repoRoot, `dist/bench/programs/${program}/index.js`),
    "--config", `kslice:prefix=${c.prefix}`, "--config", `kslice:count=${n}`,
  ];
  if (op === "up" || op === "destroy") args.push("--parallel", String(c.opts.parallel));
  const logFile = join(c.logs, `${stack}.log`);
  const t0 = now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      detached: true, // own process group: a timeout stops the CLI and its plugins too
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${c.backend}`,
        PULUMI_CONFIG_PASSPHRASE: "kslice-bench",
        // preview and refresh take their parallelism from here (stack.ts passes --parallel to up and destroy)
        PULUMI_PARALLEL: String(c.opts.parallel),
      },
    });
    current = child;
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGINT");
      } catch {
        /* gone */
      }
      setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          /* gone */
        }
      }, 30_000).unref();
    }, timeoutMs);
    child.on("close", async (code, signal) => {
      clearTimeout(timer);
      const ms = now() - t0;
      // the CLI and its plugins share the runner's process group: wait (bounded) until they are gone,
      // so that the next run never finds the stack locked by a cancelled one
      for (let i = 0; i < 600 && groupAlive(child.pid!); i++) await new Promise((r) => setTimeout(r, 100));
      current = undefined;
      writeFileSync(logFile, `$ ${args.join(" ")}\n${err}\n${out}`, { flag: "a" });
      const last = out.trim().split("\n").pop();
      let json: { summary?: Record<string, number>; outputs?: Record<string, unknown> } | undefined;
      try {
        json = last ? JSON.parse(last) : undefined;
      } catch {
        json = undefined;
      }
      const engine = /Duration: (\S+)/.exec(err)?.[1];
      const ok = code === 0 && !timedOut;
      const error = ok ? undefined : `${timedOut ? `timed out after ${s(timeoutMs)} s; ` : ""}exit ${code ?? signal}: ${err.trim().split("\n").slice(-15).join("\n")}`;
      resolve({ op, ok, ms, engine, summary: json?.summary, outputs: json?.outputs, error });
    });
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const summaryText = (r: OpResult) =>
  r.summary ? Object.entries(r.summary).map(([k, v]) => `${k} ${v}`).join(", ") : r.ok ? "" : "FAILED";

// ---------- raw runc ----------

interface RawResult {
  started: number;
  runMs: number[];
  deleteMs: number[];
  error?: string;
}

function rawPaths(prefix: string) {
  const base = `/var/lib/${prefix}-raw`;
  return { base, root: `/run/${prefix}-raw`, bundles: `${base}/bundles`, layout: { ...hostLayout(`${prefix}-raw`) }, cg: `${prefix}-raw` };
}

async function rawRunc(prefix: string, n: number, deadlineMs: number): Promise<RawResult> {
  const p = rawPaths(prefix);
  const t = new LocalTransport();
  const res: RawResult = { started: 0, runMs: [], deleteMs: [] };
  mkdirSync(p.bundles, { recursive: true });
  // the same busybox template kslice builds (provider/kernel/container/rootfs.ts), in a dir of our own
  const { lower } = await ensureLower(t, p.layout, { busybox: {} });
  const v2 = cgroupMode().startsWith("unified");
  const hard = nofileHard();
  const ids: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      if (aborted) throw new Error("aborted");
      if (now() > deadlineMs) throw new Error(`phase deadline passed after ${i} of ${n}`);
      const id = `r-${i}`;
      const b = `${p.bundles}/${id}`;
      must(`mkdir -p ${b}/upper ${b}/work ${b}/rootfs && mount -t overlay overlay -o lowerdir=${lower},upperdir=${b}/upper,workdir=${b}/work ${b}/rootfs && : > ${b}/resolv.conf && : > ${b}/hosts`);
      ids.push(id);
      const a = containerArgs.parse({
        host: { connection: { type: "local" }, prefix: `${prefix}-raw` },
        name: id,
        command,
        limits: { memory: { max: "32Mi" }, pids: { max: 16 }, cpu: { weight: 100 } },
        stopGraceSeconds: 1,
      });
      const spec = ociSpec(a, { cgroupsPath: `/${p.cg}/${id}`, cgroupVersion: v2 ? 2 : 1, nofileHard: hard, etc: { resolvConf: `${b}/resolv.conf`, hosts: `${b}/hosts` } }) as {
        linux: { resources: Record<string, unknown> };
      };
      spec.linux.resources = { ...spec.linux.resources, memory: { limit: 32 * MiB }, pids: { limit: 16 }, cpu: { shares: 1024 } };
      writeFileSync(`${b}/config.json`, JSON.stringify(spec, null, 2));
      const log = openSync(`${b}/log`, "a");
      const t0 = now();
      const r = spawnSync("runc", ["--root", p.root, "run", "-d", "--bundle", b, id], { stdio: ["ignore", log, log], timeout: 60_000 });
      const dt = now() - t0;
      closeSync(log);
      if (r.status !== 0) throw new Error(`runc run -d ${id} exited ${r.status}: ${readFileSync(`${b}/log`, "utf8").trim().slice(-500)}`);
      res.runMs.push(dt);
      res.started++;
    }
    const running = must(`runc --root ${p.root} list -q`).trim().split("\n").filter(Boolean).length;
    if (running !== n) throw new Error(`runc lists ${running} containers, expected ${n}`);
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    res.deleteMs = rawCleanup(prefix, ids);
  }
  return res;
}

/** Deletes what the raw runc phase made; idempotent. Returns the time of each runc delete -f. */
function rawCleanup(prefix: string, ids?: string[]): number[] {
  const p = rawPaths(prefix);
  const times: number[] = [];
  const known = ids ?? (existsSync(p.root) ? sh(`runc --root ${p.root} list -q`).out.trim().split("\n").filter(Boolean) : []);
  for (const id of known) {
    const t0 = now();
    spawnSync("runc", ["--root", p.root, "delete", "-f", id], { stdio: "ignore", timeout: 30_000 });
    times.push(now() - t0);
  }
  if (existsSync(p.bundles)) {
    for (const id of readdirSync(p.bundles)) sh(`mountpoint -q ${p.bundles}/${id}/rootfs && umount ${p.bundles}/${id}/rootfs`);
  }
  rmCgroups(p.cg);
  rmSync(p.base, { recursive: true, force: true });
  rmSync(p.root, { recursive: true, force: true });
  return times;
}

/** rmdir, deepest first, a cgroup tree (at the root of every hierarchy) that a runtime left behind. */
function rmCgroups(name: string): void {
  sh(`for d in /sys/fs/cgroup/${name} /sys/fs/cgroup/*/${name}; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; true`);
}

// ---------- podman ----------

interface PodmanResult {
  available: boolean;
  version?: string;
  started: number;
  runMs: number[];
  rmMs?: number;
  mem?: HostMem;
  error?: string;
  leftovers?: string;
}

function podmanPaths(prefix: string) {
  const base = `/var/lib/${prefix}-podman`;
  const run = `/run/${prefix}-podman`;
  const global = [
    "--root", `${base}/storage`, "--runroot", `${run}/runroot`, "--tmpdir", `${run}/tmp`,
    "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file",
  ];
  return { base, run, global, rootfs: `${base}/rootfs`, cg: `${prefix}-podman`, layout: { ...hostLayout(`${prefix}-podman`) } };
}

function podman(prefix: string, args: string[], timeoutMs = 120_000) {
  const r = spawnSync("podman", [...podmanPaths(prefix).global, ...args], { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? r.error.message : "") };
}

async function podmanPeer(prefix: string, n: number, deadlineMs: number): Promise<PodmanResult> {
  const res: PodmanResult = { available: false, started: 0, runMs: [] };
  const v = sh("podman --version");
  if (v.code !== 0) return { ...res, error: `podman not installed (${v.err.trim()})` };
  res.version = v.out.trim();
  const p = podmanPaths(prefix);
  mkdirSync(p.rootfs, { recursive: true });
  // Root here lacks CAP_SYS_RESOURCE: podman's default rlimits (nofile 1048576, nproc above what
  // conmon runs with, 32768 here) make runc fail with "error setting rlimit"; stay within them.
  const ulimits = ["--ulimit", `nofile=1024:${nofileHard()}`, "--ulimit", `nproc=${Math.min(limitHard("Max processes"), 32768)}:${Math.min(limitHard("Max processes"), 32768)}`];
  try {
    // the same busybox template, copied once per container (podman needs a directory of its own)
    const { lower } = await ensureLower(new LocalTransport(), p.layout, { busybox: {} });
    for (let i = 0; i < n; i++) must(`cp -a ${lower} ${p.rootfs}/${i}`);
    for (let i = 0; i < n; i++) {
      if (aborted) throw new Error("aborted");
      if (now() > deadlineMs) throw new Error(`phase deadline passed after ${i} of ${n}`);
      const t0 = now();
      const r = podman(prefix, [
        "run", "-d", "--memory", "32m", "--pids-limit", "16", "--network", "none",
        "--cgroup-parent", `/${p.cg}`, ...ulimits, "--name", `${prefix}-p${i}`,
        // --rootfs is a flag: the first argument after the options is the rootfs directory
        "--rootfs", `${p.rootfs}/${i}`, ...command,
      ]);
      const dt = now() - t0;
      if (r.code !== 0) {
        if (i === 0) return { ...res, error: `podman run: ${(r.err || r.out).trim()}` };
        throw new Error(`podman run ${prefix}-p${i} exited ${r.code}: ${(r.err || r.out).trim()}`);
      }
      res.available = true;
      res.runMs.push(dt);
      res.started++;
    }
    res.mem = await sampleHost(() => procs().filter((x) => x.comm === "conmon" && x.cmdline.includes(prefix)), () => true);
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    const t0 = now();
    podmanCleanup(prefix, res);
    res.rmMs = now() - t0;
  }
  return res;
}

function podmanCleanup(prefix: string, res?: PodmanResult): void {
  const p = podmanPaths(prefix);
  if (existsSync(p.base) || existsSync(p.run)) {
    if (sh("command -v podman").code === 0) {
      podman(prefix, ["rm", "-f", "-a", "-t", "2"], 300_000);
      const left = podman(prefix, ["ps", "-a", "--format", "{{.Names}}"]).out.trim();
      if (left && res) res.leftovers = left;
    }
    // conmon exits with its container; bounded wait for the last ones
    for (let i = 0; i < 50 && procs().some((x) => x.comm === "conmon" && x.cmdline.includes(prefix)); i++) sh("sleep 0.1");
    sh(`grep -E ' (${p.base}|${p.run})/' /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null; true`);
  }
  rmCgroups(p.cg); // podman leaves /<parent>/conmon and the parent in every hierarchy
  rmSync(p.base, { recursive: true, force: true });
  rmSync(p.run, { recursive: true, force: true });
}

// ---------- one N ----------

interface NResult {
  n: number;
  load: string;
  floor: { up?: OpResult; upNoop?: OpResult; preview?: OpResult; destroy?: OpResult };
  kslice: { up?: OpResult; upNoop?: OpResult; preview?: OpResult; refresh?: OpResult; destroy?: OpResult; outputs?: OpResult; running?: number; mem?: HostMem; supervisors?: number };
  /** The same containers, each on one network (bench/programs/networked). */
  networked: { up?: OpResult; preview?: OpResult; destroy?: OpResult };
  raw?: RawResult;
  podman?: PodmanResult;
  errors: string[];
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
const median = (xs: number[]) => {
  if (!xs.length) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};

const undestroyed = new Set<string>();

async function benchN(c: Ctx, n: number): Promise<NResult> {
  const r: NResult = { n, load: readFileSync("/proc/loadavg", "utf8").trim(), floor: {}, kslice: {}, networked: {}, errors: [] };
  const timeout = 600_000 + n * 5_000;
  const deadline = () => now() + 60_000 + n * 5_000;
  say(`\n== N = ${n}  (load average at start: ${r.load})`);
  const step = async (label: string, program: string, stack: string, op: string): Promise<OpResult> => {
    if (aborted) throw new Error("aborted");
    const x = await runStack(c, op, program, stack, n, timeout);
    progress(`${label}: ${s(x.ms)} s${x.engine ? ` (engine: ${x.engine})` : ""} ${summaryText(x)}`);
    if (!x.ok) {
      r.errors.push(`${label}: ${x.error}`);
      say(`    ${x.error?.replace(/\n/g, "\n    ")}`);
    }
    return x;
  };

  // 1. the engine's floor: N do-nothing dynamic resources
  const fs = `noop-n${n}`;
  try {
    undestroyed.add(`noop|${fs}|${n}`);
    r.floor.up = await step("floor up (create)", "noop", fs, "up");
    if (r.floor.up.ok) {
      r.floor.upNoop = await step("floor up (no-op)", "noop", fs, "up");
      r.floor.preview = await step("floor preview (no-op)", "noop", fs, "preview");
    }
    r.floor.destroy = await step("floor destroy", "noop", fs, "destroy");
    if (r.floor.destroy.ok) undestroyed.delete(`noop|${fs}|${n}`);
  } catch (e) {
    r.errors.push(`floor: ${(e as Error).message}`);
  }

  // 2. kslice through the engine
  const ks = `containers-n${n}`;
  try {
    undestroyed.add(`containers|${ks}|${n}`);
    r.kslice.up = await step("kslice up (create)", "containers", ks, "up");
    if (r.kslice.up.ok) {
      const list = sh(`runc --root /run/${c.prefix}/runtime list --format json`).out.trim();
      const states = list && list !== "null" ? (JSON.parse(list) as { status: string }[]) : [];
      r.kslice.running = states.filter((x) => x.status === "running").length;
      progress(`runc lists ${r.kslice.running} running of ${n}`);
      if (r.kslice.running !== n) r.errors.push(`kslice: ${r.kslice.running} containers running after up, expected ${n}`);
      r.kslice.supervisors = ksliceHostProcs(c.prefix).filter((p) => p.cmdline.includes(`/var/lib/${c.prefix}/supervisor.sh`)).length;
      const supervisor = (p: Proc) => p.cmdline.includes(`/var/lib/${c.prefix}/supervisor.sh`);
      r.kslice.mem = await sampleHost(() => ksliceHostProcs(c.prefix), supervisor);
      progress(`kslice host processes outside containers (first sample): ${r.kslice.mem.procs.join("; ") || "none"}`);
      r.kslice.upNoop = await step("kslice up (no-op)", "containers", ks, "up");
      r.kslice.preview = await step("kslice preview (no-op)", "containers", ks, "preview");
      r.kslice.outputs = await step("runner fixed cost (stack.js outputs)", "containers", ks, "outputs");
      r.kslice.refresh = await step("kslice refresh", "containers", ks, "refresh");
    }
    r.kslice.destroy = await step("kslice destroy", "containers", ks, "destroy");
    if (r.kslice.destroy.ok) undestroyed.delete(`containers|${ks}|${n}`);
  } catch (e) {
    r.errors.push(`kslice: ${(e as Error).message}`);
  }

  // 2b. the same containers, each on a network: the cost of a veth, an address and the rules
  const kn = `networked-n${n}`;
  try {
    undestroyed.add(`networked|${kn}|${n}`);
    r.networked.up = await step("kslice up with a network (create)", "networked", kn, "up");
    if (r.networked.up.ok) r.networked.preview = await step("kslice preview with a network (no-op)", "networked", kn, "preview");
    r.networked.destroy = await step("kslice destroy with a network", "networked", kn, "destroy");
    if (r.networked.destroy.ok) undestroyed.delete(`networked|${kn}|${n}`);
  } catch (e) {
    r.errors.push(`kslice with a network: ${(e as Error).message}`);
  }

  // 3. raw runc, sequential
  if (!aborted) {
    progress(`raw runc: ${n} × runc run -d …`);
    r.raw = await rawRunc(c.prefix, n, deadline());
    if (r.raw.error) r.errors.push(`raw runc: ${r.raw.error}`);
    progress(`raw runc: ${r.raw.started} started, mean ${ms1(mean(r.raw.runMs) ?? 0)} ms per runc run -d; deleted ${r.raw.deleteMs.length}${r.raw.error ? `; error: ${r.raw.error}` : ""}`);
  }

  // 4. podman, sequential
  if (!aborted && c.opts.podman) {
    progress(`podman: ${n} × podman run -d …`);
    r.podman = await podmanPeer(c.prefix, n, deadline());
    if (!r.podman.available) progress(`podman: unavailable: ${r.podman.error}`);
    else {
      if (r.podman.error) r.errors.push(`podman: ${r.podman.error}`);
      progress(`podman: ${r.podman.started} started, mean ${ms1(mean(r.podman.runMs) ?? 0)} ms per podman run -d; rm -f -a + cleanup ${s(r.podman.rmMs ?? 0)} s`);
    }
    if (r.podman.leftovers) r.errors.push(`podman: left after rm -f -a: ${r.podman.leftovers}`);
  }
  return r;
}

// ---------- report ----------

function reportN(c: Ctx, r: NResult): void {
  const n = r.n;
  const per = (x?: OpResult) => (x?.ok ? ms1(x.ms / n) : "n/a");
  const tot = (x?: OpResult) => (x ? (x.ok ? s(x.ms) : "FAILED") : "-");
  const rows: string[][] = [];
  const add = (what: string, base: string, x?: OpResult) => rows.push([what, base, tot(x), per(x), x?.engine ?? "", x ? summaryText(x) : ""]);
  add("kslice up (create N+2)", "kslice", r.kslice.up);
  add("kslice up (no-op)", "kslice", r.kslice.upNoop);
  add("kslice preview (no-op)", "kslice", r.kslice.preview);
  add("kslice refresh", "kslice", r.kslice.refresh);
  add("kslice destroy", "kslice", r.kslice.destroy);
  add("kslice up with a network (create N+3)", "kslice", r.networked.up);
  add("kslice preview with a network (no-op)", "kslice", r.networked.preview);
  add("kslice destroy with a network", "kslice", r.networked.destroy);
  add("noop up (create N)", "engine floor", r.floor.up);
  add("noop up (no-op)", "engine floor", r.floor.upNoop);
  add("noop preview (no-op)", "engine floor", r.floor.preview);
  add("noop destroy", "engine floor", r.floor.destroy);
  add("stack.js outputs (fixed cost of every run)", "runner", r.kslice.outputs);
  const rr = r.raw;
  if (rr) {
    const t = rr.runMs.reduce((a, b) => a + b, 0);
    const d = rr.deleteMs.reduce((a, b) => a + b, 0);
    rows.push(["runc run -d, sequential", "raw runc", s(t), ms1(mean(rr.runMs) ?? NaN), `median ${ms1(median(rr.runMs) ?? NaN)}`, `${rr.started} started`]);
    rows.push(["runc delete -f, sequential", "raw runc", s(d), ms1(mean(rr.deleteMs) ?? NaN), `median ${ms1(median(rr.deleteMs) ?? NaN)}`, `${rr.deleteMs.length} deleted`]);
  }
  const pr = r.podman;
  if (pr?.available) {
    const t = pr.runMs.reduce((a, b) => a + b, 0);
    rows.push(["podman run -d, sequential", "podman", s(t), ms1(mean(pr.runMs) ?? NaN), `median ${ms1(median(pr.runMs) ?? NaN)}`, `${pr.started} started`]);
    rows.push(["podman rm -f -a + cleanup", "podman", s(pr.rmMs ?? NaN), ms1((pr.rmMs ?? NaN) / n), "", ""]);
  }
  say(`\n-- N = ${n}: times (wall clock of each command; engine runs with --parallel ${c.opts.parallel}; load at start ${r.load})`);
  say(table(rows, ["measured", "baseline", "total s", "ms/container", "engine/median", "changes"]));

  const ks = r.kslice;
  const podMem = pr?.available && pr.mem ? pr.mem : undefined;
  say(`\n-- N = ${n}: host cost of the running containers beyond their own processes (mean of ${ks.mem?.samples ?? podMem?.samples ?? 0} samples over 5 s, all N running, nothing else of the bench running)`);
  const memRow = (what: string, m?: HostMem) =>
    m
      ? [what, String(m.maxProcs), (m.rssKiB / n).toFixed(1), (m.pssKiB / n).toFixed(1), m.rssKiB.toFixed(0), m.cpuPct.toFixed(1)]
      : [what, "n/a", "n/a", "n/a", "", "n/a"];
  say(
    table(
      [
        memRow("kslice (host supervisor + its children, outside container cgroups)", ks.mem),
        ["raw runc (no host process once runc run -d returns)", "0", "0.0", "0.0", "0", "0.0"],
        memRow("podman (conmon, one per container)", podMem),
      ],
      ["measured", "max procs", "RSS KiB/ctr", "PSS KiB/ctr", "RSS KiB total", "CPU % of a core"],
    ),
  );
  if (ks.supervisors !== undefined && ks.supervisors !== 1) say(`   note: ${ks.supervisors} supervisor processes found (expected 1 per prefix)`);
}

interface Summary {
  n: number;
  createPer?: number;
  beyondFloorPer?: number;
  runcPer?: number;
  podmanPer?: number;
  previewRatio?: number;
  upNoopRatio?: number;
  ksMem?: number;
  podMem?: number;
  ksCpu?: number;
  podCpu?: number;
  netCreatePer?: number;
}

function summarise(r: NResult): Summary {
  const n = r.n;
  const ok = (x?: OpResult) => (x?.ok ? x.ms : undefined);
  const up = ok(r.kslice.up);
  const fup = ok(r.floor.up);
  const pv = ok(r.kslice.preview);
  const fpv = ok(r.floor.preview);
  const un = ok(r.kslice.upNoop);
  const fun = ok(r.floor.upNoop);
  return {
    n,
    createPer: up !== undefined ? up / n : undefined,
    beyondFloorPer: up !== undefined && fup !== undefined ? (up - fup) / n : undefined,
    runcPer: r.raw && !r.raw.error ? mean(r.raw.runMs) : undefined,
    podmanPer: r.podman?.available && !r.podman.error ? mean(r.podman.runMs) : undefined,
    previewRatio: pv !== undefined && fpv !== undefined ? pv / fpv : undefined,
    upNoopRatio: un !== undefined && fun !== undefined ? un / fun : undefined,
    ksMem: r.kslice.mem ? r.kslice.mem.rssKiB / n : undefined,
    podMem: r.podman?.available && r.podman.mem ? r.podman.mem.rssKiB / n : undefined,
    ksCpu: r.kslice.mem?.cpuPct,
    podCpu: r.podman?.available ? r.podman.mem?.cpuPct : undefined,
    netCreatePer: r.networked.up?.ok ? r.networked.up.ms / n : undefined,
  };
}

function reportSummary(c: Ctx, results: NResult[]): void {
  const sums = results.map(summarise);
  const f = (x?: number, d = 1) => (x === undefined ? "n/a" : x.toFixed(d));
  const x = (a?: number) => (a === undefined ? "n/a" : `${a.toFixed(2)}×`);
  say(`\n== Summary (kslice engine runs with --parallel ${c.opts.parallel} on ${cpus().length} cores; baselines sequential; ms per container)`);
  say(
    table(
      sums.map((m) => [
        String(m.n),
        f(m.createPer), f(m.beyondFloorPer), f(m.runcPer), f(m.podmanPer),
        ratio(m.createPer, m.runcPer), ratio(m.beyondFloorPer, m.runcPer), ratio(m.createPer, m.podmanPer),
        x(m.previewRatio), x(m.upNoopRatio), f(m.ksMem), f(m.podMem), f(m.ksCpu), f(m.podCpu),
        f(m.netCreatePer), ratio(m.netCreatePer, m.createPer),
      ]),
      [
        "N", "kslice up/N", "(up−floor up)/N", "runc run", "podman run",
        "kslice/runc", "beyond-floor/runc", "kslice/podman",
        "preview ks/floor", "no-op up ks/floor", "ks KiB/ctr", "conmon KiB/ctr", "ks CPU%", "conmon CPU%",
        "net up/N", "net/plain",
      ],
    ),
  );
  say(`
  kslice up/N        wall time of the engine's up that creates Host + budget + N containers, divided by N
                     (creates run in parallel through the engine: --parallel ${c.opts.parallel}, on ${cpus().length} cores)
  (up−floor up)/N    the same minus the engine floor's up of N do-nothing dynamic resources, divided by N
  runc run           mean of N sequential \`runc run -d\` (raw runc floor: bundle, overlay and spec prepared untimed)
  podman run         mean of N sequential \`podman run -d --rootfs\` (${results.find((r) => r.podman?.version)?.podman?.version ?? "podman n/a"})
  preview ks/floor   no-op preview of the kslice stack (N+2 resources) / no-op preview of the floor stack (N resources)
  ks KiB/ctr         RSS of kslice's host processes outside container cgroups (the supervisor) / N
  conmon KiB/ctr     RSS of podman's conmon processes / N
  ks CPU%, conmon    CPU they use while the N containers idle, % of one core (with the children they reap)
  net up/N           kslice up/N with every container on one Network (veth, allocated address, its rules)
  net/plain          net up/N against kslice up/N of the same run: what networking adds to a create`);
  const last = sums.find((m) => m.n === 200) ?? sums[sums.length - 1];
  if (last) {
    const tgt = (v: number | undefined, limit: number, strict: boolean) =>
      v === undefined ? "not measured" : (strict ? v < limit : v <= limit) ? "within target" : "above target";
    say(`\n  targets (reported, not asserted), at N=${last.n}:`);
    say(`    no-op preview kslice/floor = ${x(last.previewRatio)}  (target < 2×: ${tgt(last.previewRatio, 2, true)})`);
    const cr = last.createPer !== undefined && last.runcPer ? last.createPer / last.runcPer : undefined;
    say(`    create per container kslice/runc = ${x(cr)}  (target ≤ 1.5×: ${tgt(cr, 1.5, false)})`);
  }
}

// ---------- cleanup ----------

async function cleanupAll(c: Ctx): Promise<void> {
  for (const key of [...undestroyed]) {
    const [program, stack, n] = key.split("|") as [string, string, string];
    say(`  cleanup: destroying stack ${stack} left by a failed step`);
    const r = await runStack(c, "destroy", program, stack, Number(n), 900_000);
    if (r.ok) undestroyed.delete(key);
    else say(`  cleanup: destroy ${stack} failed: ${r.error}`);
  }
  rawCleanup(c.prefix);
  podmanCleanup(c.prefix);
}

// ---------- main ----------

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const prefix = `kslice-b${randomBytes(3).toString("hex")}`;
  const tmp = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const c: Ctx = { prefix, tmp, backend: join(tmp, "backend"), opts, logs: join(tmp, "logs") };
  mkdirSync(c.backend);
  mkdirSync(c.logs);
  const t0 = now();
  const onSignal = (sig: string) => {
    if (aborted) return;
    aborted = true;
    say(`\n${sig}: stopping, then cleaning up`);
    if (current?.pid) {
      try {
        process.kill(-current.pid, "SIGINT");
      } catch {
        /* gone */
      }
    }
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  if (!existsSync(join(repoRoot, "dist/bench/programs/containers/index.js"))) throw new Error("dist/bench not built: run npm run build");
  const git = sh(`git -C ${repoRoot} rev-parse --short HEAD`).out.trim();
  // the checkout is shared: say whether the measured provider differs from the commit
  const dirty = sh(`git -C ${repoRoot} status --porcelain -- provider schema index.ts`).out.trim().split("\n").filter(Boolean).length;
  say(`kslice benchmark — ${new Date().toISOString()}`);
  const facts: [string, string][] = [
    ["date", new Date().toString()],
    ["machine", `${sh("uname -n").out.trim()}, nproc ${sh("nproc").out.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["kernel", sh("uname -r").out.trim()],
    ["cgroup mode", cgroupMode()],
    ["load average", readFileSync("/proc/loadavg", "utf8").trim()],
    ["other load", `${sh("pgrep -c qemu-system || true").out.trim() || 0} qemu-system processes running`],
    ["runc", sh("runc --version | head -n1").out.trim()],
    ["podman", opts.podman ? sh("podman --version 2>&1").out.trim() || "not installed" : "skipped (--no-podman)"],
    ["node", process.version],
    ["kslice", `git ${git || "?"}${dirty ? ` + ${dirty} uncommitted file(s) under provider/, schema/ (built as found)` : ""}`],
    ["prefix", prefix],
    ["N", opts.ns.join(", ")],
    ["engine parallel", `${opts.parallel} (--parallel for up/destroy, PULUMI_PARALLEL for preview/refresh)`],
    ["state", `temp file backend under ${tmp}`],
  ];
  for (const [k, v] of facts) say(`${k.padEnd(16)}${v}`);

  const results: NResult[] = [];
  let failed = false;
  try {
    for (const n of opts.ns) {
      if (aborted) break;
      const r = await benchN(c, n);
      results.push(r);
      reportN(c, r);
      if (r.errors.length) {
        failed = true;
        say(`\n   errors at N=${n}:\n   - ${r.errors.join("\n   - ").replace(/\n(?! {3}-)/g, "\n     ")}`);
      }
    }
  } catch (e) {
    failed = true;
    say(`\nbenchmark stopped: ${(e as Error).stack ?? e}`);
  } finally {
    await cleanupAll(c);
  }
  if (results.length) reportSummary(c, results);

  say(`\n== Leak check: bash scripts/leaks.sh ${prefix}`);
  const leaks = sh(`bash ${join(repoRoot, "scripts/leaks.sh")} ${prefix}`);
  const podLeft = opts.podman && sh("command -v podman").code === 0 ? podman(prefix, ["ps", "-a", "-q"]).out.trim() : "";
  const conmons = procs().filter((x) => x.comm === "conmon" && x.cmdline.includes(prefix)).length;
  const superv = procs().filter((x) => x.cmdline.includes(`/var/lib/${prefix}/supervisor.sh`)).length;
  const leaked = leaks.code !== 0 || !!podLeft || conmons > 0 || superv > 0 || undestroyed.size > 0;
  say(leaks.out.trim() || "(nothing listed)");
  say(`podman ps -a (bench storage): ${podLeft || "empty"}; conmon left: ${conmons}; kslice supervisors left: ${superv}`);
  if (leaked) {
    say(`\n!!! LEAK: the run with prefix ${prefix} left the above behind. Removing it with scripts/cleanup.sh; logs kept in ${c.logs}`);
    sh(`bash ${join(repoRoot, "scripts/cleanup.sh")} ${prefix}`, 300_000);
    podmanCleanup(prefix);
    const again = sh(`bash ${join(repoRoot, "scripts/leaks.sh")} ${prefix}`);
    say(`after cleanup.sh: ${again.code === 0 ? "clean" : again.out.trim()}`);
  } else {
    say(`clean: nothing left with prefix ${prefix}`);
  }
  if (failed || leaked) say(`logs of the engine runs kept in ${c.logs}`);
  else rmSync(tmp, { recursive: true, force: true });
  say(`\ntotal wall time ${s(now() - t0)} s; exit ${failed || leaked ? 1 : 0}`);
  return failed || leaked ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
