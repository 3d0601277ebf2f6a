import { shellQuote as q, type Transport } from "../../transport/transport";
import { SharedRead, idleMs } from "../shared-read";
import type { HostLayout } from "./layout";
import type { RuntimeState } from "./runtime";
import type { NetworkSpec } from "../network/bridge";
import { parseRangesSnapshot, takenRangesScript } from "./uid-ranges";

/**
 * What kslice has claimed on a host at one moment, from its own files (no runtime asked): bundles,
 * records, networks, addresses, ranges. What checks and creates decide from; cheap to read again
 * after every change (a few greps, whatever the number of containers).
 */
export interface ClaimsSnapshot {
  bundles: Set<string>;
  /** Containers the runtime keeps state for (its root's directories), without asking it. */
  runtimeIds: Set<string>;
  /** Log sizes in bytes, by container. */
  logSizes: Map<string, number>;
  /** The host's network records, by network name. */
  networks: Map<string, NetworkSpec>;
  /** Addresses held, by container, then network (an IPv6 address under "<network>/6"). */
  addresses: Map<string, Map<string, string>>;
  /** User-namespace range index claimed by each of the prefix's containers. */
  ranges: Map<string, number>;
  /** Range indexes claimed on the host by every prefix. */
  takenRanges: number[];
  /** Each bundle's kslice.json (owner, specHash, …) as written, by container. */
  records: Map<string, string>;
  /**
   * Bundles whose records are damaged, by container: the files found empty (kslice.json, config.json,
   * start.sh, net.sh: written, not yet on disk when the power went) or, kslice.json, not a JSON object.
   * Such a container is not absent: `up` rewrites its records from the declaration, keeping its writable layer.
   */
  damaged: Map<string, string[]>;
  /**
   * Changes when kslice changes the host (SnapshotCache.invalidate), not when a read merely ages:
   * what a burst read of every container (perResource) is kept by.
   */
  epoch?: object;
  /** The host read this snapshot came from (itself, or the one it amends): what read-only tests are shared by. */
  source?: object;
}

/** A container kslice made, as its create's script claimed it: what the next checks must see. */
export interface Made {
  name: string;
  record: string;
  started: boolean;
  /** network → address */
  addresses: Map<string, string>;
  rangeIndex?: number;
}

/** Every kslice container on a host at one moment: the runtime's list and what kslice claimed. */
export interface ContainerSnapshot extends ClaimsSnapshot {
  states: Map<string, RuntimeState>;
}

export function snapshotScript(runtime: string, layout: HostLayout): string {
  // runc makes its --root when listing: a read (a preview) must not leave /run/<prefix>/runtime behind
  return [
    `if [ -d ${q(layout.runtimeRoot)} ]; then ${runtime} --root ${q(layout.runtimeRoot)} list --format json 2>/dev/null || echo null; else echo null; fi`,
    ...claimsSections(layout),
  ].join("; ");
}

/**
 * The snapshot without the runtime's list (which reads every container's state: the most of a read
 * at hundreds), for what decides from claims alone: checks and creates.
 */
export function claimsSnapshotScript(layout: HostLayout): string {
  return ["echo null", ...claimsSections(layout)].join("; ");
}

/** A path as a literal find -path pattern. */
const globLiteral = (s: string) => s.replace(/[\\*?[\]]/g, "\\$&");

/**
 * One find over the prefix's containers, runtime root, networks and ranges, and one awk that
 * sorts its lines into the sections parseSnapshot reads and prints the records' contents (as
 * grep -H would: "path:line"). Two processes whatever the number of containers: on a slow host
 * (a TCG guest) each costs more than the reads.
 */
function claimsSections(layout: HostLayout): string[] {
  const { containers: c, runtimeRoot: r, networks: n, uidRanges: u } = layout;
  const awk = [
    `BEGIN { FS = "\\t"; c = ENVIRON["ks_c"]; r = ENVIRON["ks_r"]; n = ENVIRON["ks_n"]; u = ENVIRON["ks_u"]; split("${recordFiles.join(" ")}", rf, " "); for (i in rf) record[rf[i]] = 1 }`,
    `function add(tag, s) { o[tag, ++m[tag]] = s }`,
    `function lines(path, tag,   l) { while ((getline l < path) > 0) add(tag, path ":" l); close(path) }`,
    `function section(head, tag,   i) { print "@@" head; for (i = 1; i <= m[tag]; i++) print o[tag, i] }`,
    // find's fields: start point, depth, type, size, path below the start point
    `$1 == c && $2 == 1 && $3 == "d" { add("b", $5 " 0"); next }`,
    `$1 == c && $2 == 2 { k = index($5, "/"); name = substr($5, 1, k - 1); f = substr($5, k + 1)`,
    `  if (f == "log") add("l", name " " $4)`,
    `  if ($3 == "f" && f in record && $4 == 0) add("e", name " " f)`,
    `  if (f == "kslice.json" && $3 == "f") lines(c "/" $5, "k"); next }`,
    `$1 == r && $2 == 1 && $3 == "d" { add("r", $5); next }`,
    `$1 == n && $2 == 2 && $3 == "f" && $5 ~ /\\/network\\.json$/ { lines(n "/" $5, "n"); next }`,
    `$1 == n && $2 == 3 && $3 == "f" && $5 ~ /^[^\\/]*\\/addresses\\// { lines(n "/" $5, "a"); next }`,
    `$1 == u && $3 == "f" { lines(u "/" $5, "u") }`,
    // the bundles' log sizes follow their names in the bundles section
    `END { section("bundles", "b"); for (i = 1; i <= m["l"]; i++) print o["l", i]; section("runtime", "r"); section("networks", "n"); section("addresses", "a"); section("records", "k"); section("damaged", "e"); section("uids", "u") }`,
  ].join("\n");
  return [
    // the directories below a bundle (its rootfs, its layers) and the runtime's own are not walked
    `find ${[c, r, n, u].map(q).join(" ")} -mindepth 1 -maxdepth 3 \\( \\( -path ${q(`${globLiteral(c)}/*/*`)} -type d -prune \\) -o \\( -path ${q(`${globLiteral(r)}/*`)} -prune -printf '%H\\t%d\\t%y\\t%s\\t%P\\n' \\) -o -printf '%H\\t%d\\t%y\\t%s\\t%P\\n' \\) 2>/dev/null | ks_c=${q(c)} ks_r=${q(r)} ks_n=${q(n)} ks_u=${q(u)} awk ${q(awk)}`,
    takenRangesScript(),
    `true`,
  ];
}

/** The records a start reads (boot.ts damagedRecordsCheck): empty, each makes its bundle damaged. */
const recordFiles = ["kslice.json", "config.json", "start.sh", "net.sh"];

export function parseSnapshot(out: string): ContainerSnapshot {
  const [beforeUids = "", uidPart = ""] = out.split("@@uids\n");
  const [beforeDamaged = "", damagedPart = ""] = beforeUids.split("@@damaged\n");
  const [beforeRecords = "", recordPart = ""] = beforeDamaged.split("@@records\n");
  const [head = "", addressPart = ""] = beforeRecords.split("@@addresses\n");
  // ".../<name>/kslice.json:<json>"
  const records = new Map<string, string>();
  for (const line of recordPart.split("\n").filter(Boolean)) {
    const m = /\/([^/]+)\/kslice\.json:(.*)$/.exec(line);
    if (m) records.set(m[1]!, m[2]!);
  }
  const damaged = new Map<string, string[]>();
  const damage = (name: string, file: string) => damaged.set(name, [...(damaged.get(name) ?? []).filter((f) => f !== file), file]);
  for (const line of damagedPart.split("\n").filter(Boolean)) {
    const [name, file] = line.split(" ");
    if (name && file) damage(name, file);
  }
  for (const [name, record] of records) if (!isRecord(record)) damage(name, "kslice.json");
  const [rest = "", networkPart = ""] = head.split("@@networks\n");
  const [list = "", bundlesAndRuntime = ""] = rest.split("@@bundles\n");
  const [bundles = "", runtimePart = ""] = bundlesAndRuntime.split("@@runtime\n");
  const networks = new Map<string, NetworkSpec>();
  for (const line of networkPart.split("\n").filter(Boolean)) {
    const spec = JSON.parse(line.slice(line.indexOf(":") + 1)) as NetworkSpec;
    networks.set(spec.name, spec);
  }
  // ".../networks/<net>/addresses/<ip>:<owner>"
  const addresses = new Map<string, Map<string, string>>();
  for (const line of addressPart.split("\n").filter(Boolean)) {
    // an IPv6 claim's name holds ":" (the owner's never does), kept under "<net>/6" (v6Key)
    const m = /\/([^/]+)\/addresses\/([\d.]+|[0-9a-f]*:[0-9a-f:]*):([^:]+)$/.exec(line);
    if (!m) continue;
    const [, net = "", ip = "", owner = ""] = m;
    if (!addresses.has(owner)) addresses.set(owner, new Map());
    addresses.get(owner)!.set(ip.includes(":") ? `${net}/6` : net, ip);
  }
  const parsed = JSON.parse(list.trim() || "null") as RuntimeState[] | null;
  const states = new Map((parsed ?? []).map((s) => [s.id, { id: s.id, status: s.status, pid: s.pid, created: s.created }]));
  const names = new Set<string>();
  const logSizes = new Map<string, number>();
  for (const line of bundles.split("\n").filter(Boolean)) {
    const [n, size] = line.split(" ");
    names.add(n!);
    logSizes.set(n!, Math.max(logSizes.get(n!) ?? 0, Number(size) || 0));
  }
  const runtimeIds = new Set(runtimePart.split("\n").filter(Boolean));
  return { states, bundles: names, runtimeIds, logSizes, networks, addresses, records, damaged, ...parseRangesSnapshot(uidPart) };
}

/** kslice.json as a create writes it: one JSON object. */
function isRecord(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * The snapshots of one host and prefix, each shared by a burst of reads (see SharedRead): the full
 * one (the runtime's list too) for diffs and reads, the claims alone for checks and creates (a
 * current full one serves those too). Every change kslice makes invalidates both.
 */
export class SnapshotCache {
  private readonly full: SharedRead<ContainerSnapshot>;
  private readonly claimsOnly: SharedRead<ContainerSnapshot>;
  private epoch: object = {};

  constructor(t: Pick<Transport, "run">, runtime: string, layout: HostLayout, windowMs = idleMs) {
    this.full = new SharedRead(t, snapshotScript(runtime, layout), parseSnapshot, windowMs);
    this.claimsOnly = new SharedRead(t, claimsSnapshotScript(layout), parseSnapshot, windowMs);
  }

  /** Reads made, for tests and benchmarks. */
  get reads(): number {
    return this.full.reads + this.claimsOnly.reads;
  }

  get(): Promise<ContainerSnapshot> {
    return this.stamp(this.full.get());
  }

  claims(): Promise<ClaimsSnapshot> {
    return this.stamp(this.full.current() ?? this.claimsOnly.get());
  }

  invalidate(): void {
    this.full.invalidate();
    this.claimsOnly.invalidate();
    this.epoch = {};
  }

  /**
   * A create of this process succeeded: its claims are added to the current claims snapshot
   * instead of reading the host again, so the checks and creates of an up of N containers read
   * the host once per snapshot age, not once each. Claims stay exclusive on the host (a create
   * whose snapshot missed another process's claim loses its script and reads again).
   */
  made(m: Made): void {
    const epoch = (this.epoch = {});
    const add = (s: ClaimsSnapshot): ContainerSnapshot => {
      const c: ContainerSnapshot = {
        ...s,
        states: new Map(), // a claims snapshot: the runtime's list is the full one's
        bundles: new Set(s.bundles).add(m.name),
        runtimeIds: m.started ? new Set(s.runtimeIds).add(m.name) : s.runtimeIds,
        logSizes: new Map(s.logSizes).set(m.name, 0),
        addresses: m.addresses.size ? new Map(s.addresses).set(m.name, new Map(m.addresses)) : s.addresses,
        ranges: m.rangeIndex === undefined ? s.ranges : new Map(s.ranges).set(m.name, m.rangeIndex),
        takenRanges: m.rangeIndex === undefined ? s.takenRanges : [...s.takenRanges, m.rangeIndex],
        records: new Map(s.records).set(m.name, m.record),
        damaged: s.damaged.has(m.name) ? new Map([...s.damaged].filter(([n]) => n !== m.name)) : s.damaged,
        epoch,
        source: s.source ?? s,
      };
      return c;
    };
    if (!this.claimsOnly.amend(add)) this.claimsOnly.adopt(this.full, add);
    this.full.invalidate();
  }

  /** The epoch is the one the read was asked in (a change made while it ran begins another). */
  private stamp<S extends ClaimsSnapshot>(p: Promise<S>): Promise<S> {
    const epoch = this.epoch;
    return p.then((s) => {
      s.epoch ??= epoch;
      return s;
    });
  }
}

/** Reads of one epoch's resources (containers, networks): how many asked, and the read made for all. */
interface BurstEntry<All> {
  asked: number;
  used: number;
  all?: Promise<All | undefined>;
}
export type PerResourceReads<All> = WeakMap<object, BurstEntry<All>>;

/** Starts the read for all of a burst that is about to come (see perResource), unless one has started. */
export function startBurst<All>(memo: PerResourceReads<All>, snap: ClaimsSnapshot, all: () => Promise<All>): void {
  const key = snap.epoch ?? snap;
  const e = memo.get(key);
  if (e && Date.now() - e.used <= idleMs) return;
  const entry: BurstEntry<All> = { asked: 1, used: Date.now() };
  // idle from when the answer came, as perResource counts it
  entry.all = all().then(
    (v) => ((entry.used = Date.now()), v),
    () => undefined,
  );
  memo.set(key, entry);
}

/**
 * A read about one resource, shared by the burst it comes in. The first asker of a snapshot reads
 * its own resource (a create observes one), unless it says a burst is under way (a diff or a read:
 * a preview or refresh asks for every resource); any later asker of the same snapshot reads every
 * resource at once, in one command, and the rest of the burst picks its answer from that. A
 * resource the read for all left out, or a failed read for all, falls back to its own read.
 */
export async function perResource<V, All>(
  memo: PerResourceReads<All>,
  snap: ClaimsSnapshot,
  one: () => Promise<V>,
  all: () => Promise<All>,
  pick: (all: All) => V | undefined,
  /** The caller knows a burst is under way (a diff or a read, never alone): no read of its own first. */
  burst = false,
): Promise<V> {
  // kept by epoch, not by snapshot: a burst that outlives a snapshot's age (a preview of hundreds)
  // keeps its read of every resource until kslice changes something, or nobody asked for a while
  const key = snap.epoch ?? snap;
  const now = Date.now();
  let entry = memo.get(key);
  if (!entry || now - entry.used > idleMs) memo.set(key, (entry = { asked: 0, used: now }));
  entry.used = now;
  if (entry.asked++ === 0 && !burst) return one();
  entry.all ??= all().catch(() => undefined);
  const read = await entry.all;
  // idle from when the answer came: a read of 500 namespaces outlasts the idle window, and the
  // engine asks nothing more until the diffs waiting on it are answered
  entry.used = Date.now();
  const found = read === undefined ? undefined : pick(read);
  return found !== undefined ? found : one();
}
