import type { Limits } from "../../../schema/limits";
import { CommandError, FileError, shellQuote, type Transport } from "../../transport/transport";
import type { HostFacts } from "../host-facts";
import { counterFiles, parseCounters, type FailCounters } from "./counters";
import { createHierarchy } from "./factory";
import { nodeDir, type CgroupHierarchy } from "./hierarchy";
import { fileKey, parentValue, type ControllerMapping, type FileRef, type Files, type PlanContext, type Setting } from "./settings";
import { TreeCache, treeScript, type CgroupTree } from "./tree";
import { parseUsage, usageFiles, type Usage } from "./usage";

/** A setting whose file content differs from the declared value. */
export interface Drift {
  setting: Setting;
  actual: string;
}

/** What a whole-prefix sample reports of one node. */
export interface NodeReport {
  /** Limits as the kernel reports them, in kslice's (v2) vocabulary. */
  limits: Limits;
  usage: Usage;
  counters: FailCounters;
}

/**
 * cgroup v1 and v2 behind one interface. The factory picks the host's hierarchy once, from its
 * facts (factory.ts); everything that differs between the versions is there (hierarchy.ts), and
 * nothing here branches on the version. All file I/O goes through the transport.
 */
export class CgroupDriver {
  readonly hierarchy: CgroupHierarchy;
  readonly mappings: readonly ControllerMapping[];

  /** One read of all of kslice's cgroups on the host, shared by the reads of a burst. */
  readonly tree: TreeCache;

  constructor(
    readonly t: Transport,
    readonly facts: HostFacts,
    readonly prefix: string,
    tree?: TreeCache,
  ) {
    this.hierarchy = createHierarchy(t, facts, prefix);
    this.mappings = this.hierarchy.controllers;
    this.tree = tree ?? new TreeCache(t, this.treeScript());
  }

  /** The host's cgroup version, for what must tell the runtime or the user. */
  get version(): 1 | 2 {
    return this.hierarchy.version;
  }

  /**
   * The script that reads every directory under the prefix and, in each, the files kslice looks at
   * (`extra` too), each in its controller's hierarchy.
   */
  treeScript(extra: readonly FileRef[] = []): string {
    const wanted: FileRef[] = [
      { controller: this.hierarchy.procsController, file: "cgroup.procs" },
      ...this.mappings.flatMap((m) => m.files),
      ...usageFiles(this.mappings),
      ...extra,
    ];
    return treeScript(
      this.hierarchy.roots().map((root) => ({
        root: `${root}/${this.prefix}`,
        files: [...new Set(wanted.filter((f) => this.hierarchy.mount(f.controller) === root).map((f) => f.file))],
      })),
    );
  }

  /** treeScript with the fail counters' files too: what a whole-prefix sample reads. */
  sampleScript(): string {
    return this.treeScript(counterFiles(this.mappings));
  }

  /** Forgets what was read: after kslice changes something, or when the caller must see changes made meanwhile. */
  invalidate(): void {
    this.tree.invalidate();
  }

  /** The directory of a node (path below the prefix, "" for the prefix root) for a controller. */
  dir(controller: string, path: string): string {
    const mount = this.hierarchy.mount(controller);
    if (!mount) throw new Error(`${this.t.target}: no cgroup hierarchy for the ${controller} controller`);
    return nodeDir(mount, this.prefix, path);
  }

  /** The directory that stands for the node: its hierarchy's cgroup.procs tells which processes are inside. */
  private mainDir(path: string): string {
    return this.dir(this.hierarchy.procsController, path);
  }

  plan(l: Limits, ctx: PlanContext): Setting[] {
    return this.mappings.flatMap((m) => m.plan(l, ctx));
  }

  reset(l: Limits, ctx: PlanContext): Setting[] {
    return this.mappings.flatMap((m) => m.reset(l, ctx));
  }

  unsupported(l: Limits): { key: string; reason: string }[] {
    const f = new Set(this.facts.features);
    const out = this.mappings.flatMap((m) => m.unsupported(l, f));
    const have = this.hierarchy.available();
    const names = this.hierarchy.controllerNames;
    const need: [keyof Limits, string][] = [
      ["cpu", names.cpu],
      ["memory", names.memory],
      ["pids", names.pids],
      ["io", names.io],
    ];
    for (const [key, ctrl] of need) {
      if (l[key] && Object.keys(l[key]!).length && !have.has(ctrl)) out.push({ key, reason: `the ${ctrl} controller is not available on this host` });
    }
    if (l.cpu?.cpuset && !have.has(names.cpuset)) out.push({ key: "cpu.cpuset", reason: `the ${names.cpuset} controller is not available on this host` });
    return out;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.tree.get()).dirs.has(this.mainDir(path));
  }

  private observed?: FileRef[];

  /** Reads every file the mappings observe, in one batch. */
  async read(path: string): Promise<Files> {
    const tree = await this.tree.get();
    const wanted = (this.observed ??= this.mappings.flatMap((m) => m.files));
    return this.filesIn(tree, path, wanted, (c, p) => this.dir(c, p));
  }

  /** What the node has used (memory, OOM kills, CPU time, tasks), each controller's part, in one batched read. */
  async usage(path: string): Promise<Usage> {
    const tree = await this.tree.get();
    return parseUsage(
      this.mappings,
      this.filesIn(tree, path, usageFiles(this.mappings), (c, p) => this.dir(c, p)),
    );
  }

  /** The node paths below the prefix in a tree read by sampleScript, sorted. */
  nodesIn(tree: CgroupTree): string[] {
    const top = this.mainDir("");
    return [...tree.dirs]
      .filter((d) => d.startsWith(`${top}/`))
      .sort()
      .map((d) => d.slice(top.length + 1));
  }

  /** A node's limits, usage and fail counters from a tree read by sampleScript; a hierarchy the host lacks reads as missing files. */
  reportIn(tree: CgroupTree, path: string, ctx: PlanContext): NodeReport {
    const dirOrNone = (controller: string, p: string) => {
      const mount = this.hierarchy.mount(controller);
      return mount ? nodeDir(mount, this.prefix, p) : undefined;
    };
    const read = (refs: readonly FileRef[]) => this.filesIn(tree, path, refs, dirOrNone);
    return {
      limits: this.observe(read(this.mappings.flatMap((m) => m.files)), ctx),
      usage: parseUsage(this.mappings, read(usageFiles(this.mappings))),
      counters: parseCounters(this.mappings, read(counterFiles(this.mappings))),
    };
  }

  private filesIn(tree: CgroupTree, path: string, refs: readonly FileRef[], dirOf: (controller: string, path: string) => string | undefined): Files {
    return Object.fromEntries(
      refs.map((f) => {
        const d = dirOf(f.controller, path);
        return [fileKey(f), d === undefined ? undefined : tree.files.get(`${d}/${f.file}`)];
      }),
    );
  }

  observe(files: Files, ctx: PlanContext): Limits {
    return merge(this.mappings.map((m) => m.observe(files, ctx)));
  }

  /** Settings whose file differs from the declared value. */
  drift(settings: Setting[], files: Files): Drift[] {
    return settings.flatMap((s) => {
      const m = this.mappingOf(s);
      const actual = m.normalize(s, files[fileKey(s)]);
      return s.value !== parentValue && actual !== m.normalize(s, s.value) ? [{ setting: s, actual }] : [];
    });
  }

  private mappingOf(s: Setting): ControllerMapping {
    return this.mappings.find((m) => m.files.some((f) => f.controller === s.controller && f.file === s.file))!;
  }

  /**
   * Makes the prefix root (shared by every resource: idempotent, safe in parallel) and the node.
   * Returns the undo of what it made. Fails if the node exists, unless adopt.
   */
  async create(path: string, parent: string, opts: { adopt: boolean }): Promise<() => Promise<void>> {
    const made: string[] = [];
    const undo = async () => {
      for (const d of made.reverse()) await this.t.run(["rmdir", d], { allowFailure: true });
      this.invalidate();
    };
    try {
      await this.hierarchy.prepareRoot();
      if (parent && !(await this.exists(parent))) {
        throw new Error(`${this.t.target}: parent cgroup ${this.prefix}/${parent} does not exist`);
      }
      if (parent) await this.hierarchy.prepareParent(parent);
      for (const root of this.hierarchy.roots()) {
        const d = [root, this.prefix, path].join("/");
        const r = await this.t.run(["mkdir", d], { allowFailure: true });
        if (r.exitCode === 0) made.push(d);
        else if (!/File exists/.test(r.stderr)) throw new CommandError(this.t.target, r);
        else if (!opts.adopt) {
          throw new Error(
            `${this.t.target}: cgroup ${d} already exists (made by hand or by an earlier run); set adopt: true to take it over without disturbing it`,
          );
        }
      }
      await this.hierarchy.prepareNode(path);
    } catch (e) {
      await undo();
      throw e;
    } finally {
      this.invalidate();
    }
    return undo;
  }

  /**
   * Writes the settings. A write the kernel refuses because of another one's order (v1 memsw must
   * stay above memory, a cpuset child inside its parent) is retried once after the rest.
   */
  async apply(path: string, parent: string, settings: Setting[]): Promise<void> {
    const failed: { s: Setting; e: unknown }[] = [];
    const write = async (s: Setting) => {
      let value = s.value;
      if (value === parentValue) {
        const [v] = await this.t.readFiles([`${this.dir(s.controller, parent)}/${this.hierarchy.parentFile(s.file)}`]);
        value = (v ?? "").trim();
      }
      await this.t.writeFile(`${this.dir(s.controller, path)}/${s.file}`, value);
    };
    this.invalidate();
    for (const s of settings) await write(s).catch((e) => failed.push({ s, e }));
    for (const { s } of failed.splice(0)) await write(s).catch((e) => failed.push({ s, e }));
    this.invalidate();
    if (failed.length) {
      const { s, e } = failed[0]!;
      throw new Error(`${s.key}: ${e instanceof FileError ? e.message : String(e)}`, { cause: e });
    }
  }

  /** Pids of every process in the node and below it. */
  async procs(path: string): Promise<number[]> {
    const tree = await this.tree.get();
    const top = this.mainDir(path);
    return [...tree.files]
      .filter(([p]) => p.endsWith("/cgroup.procs") && (p === `${top}/cgroup.procs` || p.startsWith(`${top}/`)))
      .flatMap(([, c]) => c.split("\n").filter(Boolean).map(Number));
  }

  /** Child nodes (other resources or containers) below a node. */
  async children(path: string): Promise<string[]> {
    const tree = await this.tree.get();
    const top = this.mainDir(path);
    return [...tree.dirs]
      .filter((d) => d.startsWith(`${top}/`) && !d.slice(top.length + 1).includes("/"))
      .map((d) => d.slice(top.length + 1))
      .sort();
  }

  /**
   * Kills every process in the node and below, and waits (5 s at most) until none is left: with the
   * kernel's cgroup.kill where the hierarchy has it, else by fallbackKill.
   */
  async kill(path: string): Promise<void> {
    this.invalidate();
    const killFile = this.hierarchy.killFile(path);
    if (killFile) await this.t.writeFile(killFile, "1");
    else await this.fallbackKill(path);
    for (let i = 0; i < 50; i++) {
      this.invalidate();
      if ((await this.procs(path)).length === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.t.target}: processes in cgroup ${this.prefix}/${path} survived SIGKILL for 5 s`);
  }

  /**
   * Without cgroup.kill (v1; v2 before 5.14): freeze so nothing forks between listing and killing,
   * SIGKILL every process listed, thaw. A host without a freezer (v1 without its hierarchy) is
   * killed unfrozen; a failed freeze or thaw is no error (the wait in kill() judges the result).
   */
  private async fallbackKill(path: string): Promise<void> {
    const freezer = this.hierarchy.freezer(path);
    if (freezer) await this.t.writeFile(freezer.file, freezer.frozen).catch(() => undefined);
    const pids = await this.procs(path);
    if (pids.length) await this.t.run(["kill", "-9", ...pids.map(String)], { allowFailure: true });
    if (freezer) await this.t.writeFile(freezer.file, freezer.thawed).catch(() => undefined);
  }

  /**
   * The shell that removes the node from every hierarchy (a step of a whole operation's script;
   * remove() runs it alone). With killStrays, a process left in it is killed (a container's own
   * node only: on v2 cgroup.kill takes the whole subtree).
   */
  removeScript(path: string, killStrays = false): string {
    const dirs = this.facts.cgroupMounts.map((m) => `${m}/${this.prefix}/${path}`);
    // rmdir sees EBUSY until the last killed process has left: retry for 5 s. A process the runtime
    // no longer knows (its state lost while the init lived, or one that escaped its init) is still
    // the container's: killed each round, with cgroup.kill where the hierarchy has it.
    const kill = killStrays ? ` if [ -f "$d/cgroup.kill" ]; then echo 1 > "$d/cgroup.kill"; else xargs -r kill -9 < "$d/cgroup.procs"; fi 2>/dev/null;` : "";
    return `for d in ${dirs.map(shellQuote).join(" ")}; do [ -d "$d" ] || continue; i=0; until rmdir "$d" 2>/dev/null; do i=$((i + 1)); [ $i -lt 50 ] || break;${kill} sleep 0.1; done; [ -d "$d" ] && { rmdir "$d"; exit 1; }; done; exit 0`;
  }

  /** Removes the node from every cgroup hierarchy (including ones a runtime added); idempotent. */
  async remove(path: string): Promise<void> {
    try {
      await this.t.run(["sh", "-c", this.removeScript(path)]);
    } finally {
      this.invalidate();
    }
  }

  /** Removes the prefix root from every hierarchy when nothing of kslice is left in it. */
  async removeRootIfEmpty(): Promise<string[]> {
    this.invalidate();
    const left = await this.children("");
    if (left.length === 0) await this.remove("");
    return left;
  }
}

function merge(parts: Limits[]): Limits {
  const out: Record<string, Record<string, unknown>> = {};
  for (const p of parts) {
    for (const [k, v] of Object.entries(p)) out[k] = { ...(out[k] ?? {}), ...(v as object) };
  }
  return out as Limits;
}
