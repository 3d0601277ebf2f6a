// The baselines kslice is measured against in the same run, outside the engine: N sequential
// `runc run -d` (raw runc, the kernel side's floor) and N sequential `podman run -d --rootfs` (a peer).
// The engine's own floor (N do-nothing dynamic resources) runs through the engine: see measure.ts.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { containerArgs } from "../schema/container";
import { ociSpec } from "../provider/kernel/container/oci-spec";
import { ensureLower } from "../provider/kernel/container/rootfs";
import { hostLayout } from "../provider/kernel/container/layout";
import { LocalTransport } from "../provider/transport/local";
import { MiB, command, must, now, run, sh } from "./common";
import { cgroupMode, limitHard, nofileHard } from "./machine";
import { cgroupPssKiB, idleCost, meminfo, procs, sampleHost, type HostMem, type IdleCost } from "./samplers";

// ---------- raw runc ----------

export interface RawResult {
  started: number;
  runMs: number[];
  deleteMs: number[];
  /** Host memory of the N started containers beyond their own processes, right after the last start. */
  idle?: IdleCost;
  error?: string;
}

function rawPaths(prefix: string) {
  const base = `/var/lib/${prefix}-raw`;
  return { base, root: `/run/${prefix}-raw`, bundles: `${base}/bundles`, layout: { ...hostLayout(`${prefix}-raw`) }, cg: `${prefix}-raw` };
}

export async function rawRunc(prefix: string, n: number, deadlineMs: number): Promise<RawResult> {
  const p = rawPaths(prefix);
  const t = new LocalTransport();
  const res: RawResult = { started: 0, runMs: [], deleteMs: [] };
  mkdirSync(p.bundles, { recursive: true });
  // the same busybox template kslice builds (provider/kernel/container/rootfs.ts), in a dir of our own
  const { lower } = await ensureLower(t, p.layout, { busybox: {} });
  const v2 = cgroupMode().startsWith("unified");
  const hard = nofileHard();
  const ids: string[] = [];
  const before = meminfo();
  try {
    for (let i = 0; i < n; i++) {
      if (run.aborted) throw new Error("aborted");
      if (now() > deadlineMs) throw new Error(`phase deadline passed after ${i} of ${n}`);
      const id = `r-${i}`;
      const b = `${p.bundles}/${id}`;
      must(
        `mkdir -p ${b}/upper ${b}/work ${b}/rootfs && mount -t overlay overlay -o lowerdir=${lower},upperdir=${b}/upper,workdir=${b}/work ${b}/rootfs && : > ${b}/resolv.conf && : > ${b}/hosts && : > ${b}/hostname`,
      );
      ids.push(id);
      const args = containerArgs.parse({
        host: { connection: { type: "local" }, prefix: `${prefix}-raw` },
        name: id,
        command,
        limits: { memory: { max: "32Mi" }, pids: { max: 16 }, cpu: { weight: 100 } },
        stopGraceSeconds: 1,
      });
      const spec = ociSpec(args, {
        cgroupsPath: `/${p.cg}/${id}`,
        cgroupVersion: v2 ? 2 : 1,
        nofileHard: hard,
        etc: { resolvConf: `${b}/resolv.conf`, hosts: `${b}/hosts`, hostname: `${b}/hostname` },
      }) as {
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
    res.idle = idleCost(n, before, meminfo(), cgroupPssKiB(p.cg));
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    res.deleteMs = rawCleanup(prefix, ids);
  }
  return res;
}

/** Deletes what the raw runc phase made; idempotent. Returns the time of each runc delete -f. */
export function rawCleanup(prefix: string, ids?: string[]): number[] {
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

export interface PodmanResult {
  available: boolean;
  version?: string;
  started: number;
  runMs: number[];
  rmMs?: number;
  /** conmon processes while the N containers idle. */
  mem?: HostMem;
  /** Host memory of the N idle containers beyond their own processes (conmon included). */
  idle?: IdleCost;
  error?: string;
  leftovers?: string;
}

function podmanPaths(prefix: string) {
  const base = `/var/lib/${prefix}-podman`;
  const run = `/run/${prefix}-podman`;
  const global = [
    "--root",
    `${base}/storage`,
    "--runroot",
    `${run}/runroot`,
    "--tmpdir",
    `${run}/tmp`,
    "--cgroup-manager",
    "cgroupfs",
    "--runtime",
    "runc",
    "--events-backend",
    "file",
  ];
  return { base, run, global, rootfs: `${base}/rootfs`, cg: `${prefix}-podman`, layout: { ...hostLayout(`${prefix}-podman`) } };
}

export function podman(prefix: string, args: string[], timeoutMs = 120_000) {
  const r = spawnSync("podman", [...podmanPaths(prefix).global, ...args], { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? r.error.message : "") };
}

const isConmon = (prefix: string) => (p: { comm: string; cmdline: string }) => p.comm === "conmon" && p.cmdline.includes(prefix);

export async function podmanPeer(prefix: string, n: number, deadlineMs: number): Promise<PodmanResult> {
  const res: PodmanResult = { available: false, started: 0, runMs: [] };
  const v = sh("podman --version");
  if (v.code !== 0) return { ...res, error: `podman not installed (${v.err.trim()})` };
  res.version = v.out.trim();
  const p = podmanPaths(prefix);
  mkdirSync(p.rootfs, { recursive: true });
  // Root here lacks CAP_SYS_RESOURCE: podman's default rlimits (nofile 1048576, nproc above what
  // conmon runs with, 32768 here) make runc fail with "error setting rlimit"; stay within them.
  const nproc = Math.min(limitHard("Max processes"), 32768);
  const ulimits = ["--ulimit", `nofile=1024:${nofileHard()}`, "--ulimit", `nproc=${nproc}:${nproc}`];
  try {
    // the same busybox template, copied once per container (podman needs a directory of its own)
    const { lower } = await ensureLower(new LocalTransport(), p.layout, { busybox: {} });
    for (let i = 0; i < n; i++) must(`cp -a ${lower} ${p.rootfs}/${i}`);
    const before = meminfo();
    for (let i = 0; i < n; i++) {
      if (run.aborted) throw new Error("aborted");
      if (now() > deadlineMs) throw new Error(`phase deadline passed after ${i} of ${n}`);
      const t0 = now();
      const r = podman(prefix, [
        "run",
        "-d",
        "--memory",
        "32m",
        "--pids-limit",
        "16",
        "--network",
        "none",
        "--cgroup-parent",
        `/${p.cg}`,
        ...ulimits,
        "--name",
        `${prefix}-p${i}`,
        // --rootfs is a flag: the first argument after the options is the rootfs directory
        "--rootfs",
        `${p.rootfs}/${i}`,
        ...command,
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
    res.mem = await sampleHost(
      () => procs().filter(isConmon(prefix)),
      () => true,
    );
    // conmon sits in <parent>/conmon: it is the host's cost, not the containers' own
    res.idle = idleCost(
      n,
      before,
      meminfo(),
      cgroupPssKiB(p.cg, (x) => !isConmon(prefix)(x)),
    );
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    const t0 = now();
    podmanCleanup(prefix, res, n);
    res.rmMs = now() - t0;
  }
  return res;
}

/** Removes what the podman phase made; idempotent. Bounded by a time that grows with N. */
export function podmanCleanup(prefix: string, res?: PodmanResult, n = 200): void {
  const p = podmanPaths(prefix);
  if (existsSync(p.base) || existsSync(p.run)) {
    if (sh("command -v podman").code === 0) {
      podman(prefix, ["rm", "-f", "-a", "-t", "2"], Math.max(300_000, n * 2_000));
      const left = podman(prefix, ["ps", "-a", "--format", "{{.Names}}"]).out.trim();
      if (left && res) res.leftovers = left;
    }
    // conmon exits with its container; bounded wait for the last ones
    for (let i = 0; i < 50 && procs().some(isConmon(prefix)); i++) sh("sleep 0.1");
    sh(`grep -E ' (${p.base}|${p.run})/' /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null; true`);
  }
  rmCgroups(p.cg); // podman leaves /<parent>/conmon and the parent in every hierarchy
  rmSync(p.base, { recursive: true, force: true });
  rmSync(p.run, { recursive: true, force: true });
}

/** What podman left with this prefix: containers in its storage and conmon processes. */
export function podmanLeft(prefix: string): { containers: string; conmons: number } {
  const containers = existsSync(podmanPaths(prefix).base) && sh("command -v podman").code === 0 ? podman(prefix, ["ps", "-a", "-q"]).out.trim() : "";
  return { containers, conmons: procs().filter(isConmon(prefix)).length };
}
