import type { Transport } from "../../transport/transport";
import { shellQuote as q } from "../../transport/transport";
import { CgroupDriver, type NodeReport } from "../cgroup/driver";
import { parseTree } from "../cgroup/tree";
import { hostLayout, type HostLayout } from "../container/layout";
import { parseSnapshot, snapshotScript, type ContainerSnapshot } from "../container/snapshot";
import { ingressCountersScript } from "../network/ingress";
import { nftTable } from "../network/names";
import { drainingDir } from "../owners";
import { chooseRuntime, readHostFacts, type HostFacts, type RuntimeName } from "../host-facts";

/** One cgroup node below the prefix (a budget or a container's cgroup) at one moment. */
export interface NodeSample extends NodeReport {
  /** Path below the prefix, e.g. "tenant-a/web". */
  path: string;
}

/** Everything of one prefix on a host, read by one command. */
export interface PrefixSample {
  /** The host's clock when the sample was taken, in ms since the epoch. */
  atMs: number;
  /** The host's uptime then, in seconds (boot time = atMs - uptime). */
  hostUptimeSeconds: number;
  snapshot: ContainerSnapshot;
  /** Cgroup path below the prefix of each container, from its bundle's config.json. */
  cgroups: Map<string, string>;
  /** Restarts by the host's supervisor, counted in each container's log ("kslice: restarting …"). */
  restarts: Map<string, number>;
  /** Every cgroup node below the prefix, by path. */
  nodes: Map<string, NodeSample>;
  /** Host ports each container has claimed ("tcp/0.0.0.0/18800", network/port-claims.ts), by container. */
  ports: Map<string, string[]>;
  /** Containers with a disk limit whose image is mounted (container/disk.ts): its statfs, by container. */
  disks: Map<string, DiskSample>;
  /** The filesystem holding /var/lib (the prefix's bundles and images), as df reports it; null when df said nothing. */
  hostDisk: { sizeBytes: number; usedBytes: number; availBytes: number } | null;
  /** Packets and bytes the declared ingress rules dropped (network/ingress.ts), by container. */
  ingressDrops: Map<string, { packets: number; bytes: number }>;
  /** Each bundle's migration record (container/migrate.ts, moveRecordFile) as written, by container. */
  migrations: Map<string, string>;
  /** The prefix's draining records (owners.ts, drainingFile) as written, by file name (the stack, URI-encoded). */
  draining: Map<string, string>;
}

/** A container's disk image as df reports it (what `df /` shows inside), in bytes and inodes. */
export interface DiskSample {
  sizeBytes: number;
  usedBytes: number;
  /** What a write can still take (statfs f_bavail: free blocks less ext4's reserved clusters). */
  availBytes: number;
  inodes: number;
  inodesUsed: number;
  inodesFree: number;
}

const section = (name: string) => `@@sample-${name}`;

/**
 * The one script that samples a whole prefix: clock, runtime state, bundles and networks (the
 * provider's snapshot script), supervisor restarts, and every usage, limit and fail-counter file of
 * every cgroup below the prefix (the provider's tree script). A handful of processes whatever the
 * number of containers, one round trip over SSH.
 */
export function sampleScript(runtime: string, layout: HostLayout, driver: CgroupDriver, prefix = layout.stateDir.split("/").pop()!): string {
  const c = q(layout.containers);
  return [
    `echo ${section("clock")}`,
    `date +%s%N; cut -d' ' -f1 /proc/uptime`,
    `echo ${section("snapshot")}`,
    // the runtime makes its --root when listing: a read must leave a host without one as it is
    `if [ -d ${q(layout.runtimeRoot)} ]; then rt=${q(runtime)}; else rt=true; fi`,
    snapshotScript('"$rt"', layout),
    `echo ${section("cgroups")}`,
    `grep -H '"cgroupsPath"' ${c}/*/config.json 2>/dev/null`,
    `echo ${section("restarts")}`,
    `grep -c '^kslice: restarting ' ${c}/*/log 2>/dev/null`,
    `echo ${section("ports")}`,
    `grep -H . ${q(layout.ports)}/* 2>/dev/null`,
    // the mounted disk images: one df for them all, none when there are none
    `echo ${section("disks")}`,
    `awk -v d=${q(`${layout.containers}/`)} 'index($2, d) == 1 && $2 ~ "/disk$" {print $2}' /proc/mounts | xargs -r df -B1 --output=target,size,used,avail,itotal,iused,iavail 2>/dev/null | tail -n +2`,
    `echo ${section("hostdisk")}`,
    `df -B1 --output=size,used,avail /var/lib 2>/dev/null | tail -n 1`,
    // migration and draining records: one grep for both, files named by path
    `echo ${section("records")}`,
    `grep -H . ${c}/*/migration.json ${q(drainingDir(layout))}/* 2>/dev/null`,
    `echo ${section("ingress")}`,
    ingressCountersScript(nftTable(prefix)),
    `echo ${section("tree")}`,
    driver.sampleScript(),
  ].join("\n");
}

function sections(out: string): Record<string, string> {
  const parts: Record<string, string[]> = {};
  let current = "";
  for (const line of out.split("\n")) {
    const m = /^@@sample-(\w+)$/.exec(line);
    if (m) parts[(current = m[1]!)] = [];
    else if (current) parts[current]!.push(line);
  }
  return Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, `${v.join("\n")}\n`]));
}

/** Pure: the script's output as a sample. */
export function parseSample(out: string, driver: CgroupDriver, layout: HostLayout): PrefixSample {
  const s = sections(out);
  const [clock = "0", uptime = "0"] = (s.clock ?? "").trim().split("\n");
  const bundleOf = (file: string) => file.slice(layout.containers.length + 1).split("/")[0]!;
  const cgroups = new Map<string, string>();
  for (const line of (s.cgroups ?? "").split("\n").filter(Boolean)) {
    const i = line.indexOf(":");
    const m = /"cgroupsPath":\s*"([^"]*)"/.exec(line.slice(i + 1));
    if (i > 0 && m) cgroups.set(bundleOf(line.slice(0, i)), m[1]!.replace(new RegExp(`^/?${driver.prefix}/`), ""));
  }
  const restarts = new Map<string, number>();
  for (const line of (s.restarts ?? "").split("\n").filter(Boolean)) {
    const i = line.lastIndexOf(":");
    if (i > 0) restarts.set(bundleOf(line.slice(0, i)), Number(line.slice(i + 1)) || 0);
  }
  const ports = new Map<string, string[]>();
  for (const line of (s.ports ?? "").split("\n").filter(Boolean)) {
    const i = line.lastIndexOf(":");
    const name = line.slice(0, i).split("/").pop()!;
    if (i > 0) ports.set(name, [...(ports.get(name) ?? []), line.slice(i + 1)]);
  }
  const disks = new Map<string, DiskSample>();
  for (const line of (s.disks ?? "").split("\n").filter(Boolean)) {
    const [target = "", size, used, avail, inodes, iused, ifree] = line.trim().split(/\s+/);
    if (target.startsWith(`${layout.containers}/`)) {
      disks.set(bundleOf(target), {
        sizeBytes: Number(size),
        usedBytes: Number(used),
        availBytes: Number(avail),
        inodes: Number(inodes),
        inodesUsed: Number(iused),
        inodesFree: Number(ifree),
      });
    }
  }
  const [size, used, avail] = (s.hostdisk ?? "").trim().split(/\s+/).map(Number);
  const hostDisk = Number.isFinite(size) && Number.isFinite(used) && Number.isFinite(avail) ? { sizeBytes: size!, usedBytes: used!, availBytes: avail! } : null;
  const ingressDrops = new Map<string, { packets: number; bytes: number }>();
  for (const line of (s.ingress ?? "").split("\n").filter(Boolean)) {
    const [name = "", packets, bytes] = line.split(" ");
    // a line per family (ip, ip6): summed
    const had = ingressDrops.get(name) ?? { packets: 0, bytes: 0 };
    ingressDrops.set(name, { packets: had.packets + Number(packets), bytes: had.bytes + Number(bytes) });
  }
  const migrations = new Map<string, string>();
  const draining = new Map<string, string>();
  const drainDir = `${drainingDir(layout)}/`;
  for (const line of (s.records ?? "").split("\n").filter(Boolean)) {
    // a record spread over lines (written by hand) is put back together
    const add = (m: Map<string, string>, k: string, v: string) => m.set(k, m.has(k) ? `${m.get(k)}\n${v}` : v);
    const m = /^(.*?\/migration\.json):(.*)$/.exec(line);
    if (m && m[1]!.startsWith(`${layout.containers}/`)) add(migrations, bundleOf(m[1]!), m[2]!);
    else if (line.startsWith(drainDir) && line.indexOf(":", drainDir.length) > 0) {
      const i = line.indexOf(":", drainDir.length);
      add(draining, line.slice(drainDir.length, i), line.slice(i + 1));
    }
  }
  const tree = parseTree(s.tree ?? "");
  const ctx = { periodUs: 100_000, devices: {} };
  const nodes = new Map<string, NodeSample>();
  for (const path of driver.nodesIn(tree)) nodes.set(path, { path, ...driver.reportIn(tree, path, ctx) });
  return {
    atMs: Math.round(Number(clock) / 1e6),
    hostUptimeSeconds: Number(uptime) || 0,
    snapshot: parseSnapshot(s.snapshot ?? ""),
    cgroups,
    restarts,
    nodes,
    ports,
    disks,
    hostDisk,
    ingressDrops,
    migrations,
    draining,
  };
}

/** Samples one prefix of a host, one command per sample. */
export class PrefixObserver {
  readonly layout: HostLayout;
  readonly driver: CgroupDriver;
  readonly script: string;

  constructor(
    readonly t: Transport,
    readonly facts: HostFacts,
    readonly prefix: string,
    readonly runtime: RuntimeName,
  ) {
    this.layout = hostLayout(prefix);
    this.driver = new CgroupDriver(t, facts, prefix);
    this.script = sampleScript(runtime, this.layout, this.driver, prefix);
  }

  /** Reads the host's facts (one command) and picks the runtime as the provider does. */
  static async open(t: Transport, prefix: string, runtime: "auto" | RuntimeName = "auto"): Promise<PrefixObserver> {
    const facts = await readHostFacts(t);
    const chosen = chooseRuntime(facts, runtime);
    if ("error" in chosen) throw new Error(`${t.target}: ${chosen.error}`);
    return new PrefixObserver(t, facts, prefix, chosen.runtime.name);
  }

  async sample(): Promise<PrefixSample> {
    const r = await this.t.run(["sh", "-c", this.script], { timeoutMs: 30_000 });
    return parseSample(r.stdout, this.driver, this.layout);
  }
}
