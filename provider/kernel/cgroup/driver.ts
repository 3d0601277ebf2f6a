import type { Limits } from "../../../schema/limits";
import { CommandError, FileError, shellQuote, type Transport } from "../../transport/transport";
import type { HostFacts } from "../host-facts";
import { v1Mappings } from "./v1/index";
import { v2Mappings } from "./v2/index";
import { TreeCache, treeScript } from "./tree";
import { parseUsage, usageFiles, type Usage } from "./usage";
import { fileKey, parentValue, type ControllerMapping, type Files, type PlanContext, type Setting } from "./settings";

/** A setting whose file content differs from the declared value. */
export interface Drift {
  setting: Setting;
  actual: string;
}

/**
 * cgroup v1 and v2 behind one interface. The host's mode is found once (host facts) and picks the
 * mappings; controllers never branch on the version. All file I/O goes through the transport.
 */
export class CgroupDriver {
  readonly version: 1 | 2;
  readonly mappings: ControllerMapping[];

  /** One read of all of kslice's cgroups on the host, shared by the reads of a burst. */
  readonly tree: TreeCache;

  constructor(
    readonly t: Transport,
    readonly facts: HostFacts,
    readonly prefix: string,
    tree?: TreeCache,
  ) {
    this.version = facts.cgroupMode === "unified" ? 2 : 1;
    this.mappings = this.version === 2 ? v2Mappings : v1Mappings;
    this.tree = tree ?? new TreeCache(t, this.treeScript());
  }

  /**
   * The script that reads every directory under the prefix and, in each, the files kslice looks at
   * (`extra` too: [controller, file]), each in its controller's hierarchy.
   */
  treeScript(extra: readonly (readonly [string, string])[] = []): string {
    const wanted: (readonly [string, string])[] = [
      [this.version === 2 ? "memory" : "pids", "cgroup.procs"],
      ...this.mappings.flatMap((m) => m.files.map((f) => [f.controller, f.file] as const)),
      ...usageFiles[this.version],
      ...extra,
    ];
    const mount = (controller: string) => (this.version === 2 ? this.facts.cgroupV2Mount : this.facts.cgroupV1Mounts[controller]);
    return treeScript(this.hierarchies().map((h) => ({
      root: `${h}/${this.prefix}`,
      files: [...new Set(wanted.filter(([c]) => mount(c) === h).map(([, f]) => f))],
    })));
  }

  /** Forgets what was read: after kslice changes something, or when the caller must see changes made meanwhile. */
  invalidate(): void {
    this.tree.invalidate();
  }

  /** The directory of a node (path below the prefix, "" for the prefix root) for a controller. */
  dir(controller: string, path: string): string {
    const base = this.version === 2 ? this.facts.cgroupV2Mount : this.facts.cgroupV1Mounts[controller];
    if (!base) throw new Error(`${this.t.target}: no cgroup hierarchy for the ${controller} controller`);
    return [base, this.prefix, path].filter(Boolean).join("/");
  }

  /** Hierarchies where kslice makes its directories: the v2 tree, or every v1 controller's. */
  hierarchies(): string[] {
    return this.version === 2 ? [this.facts.cgroupV2Mount!] : [...new Set(Object.values(this.facts.cgroupV1Mounts))];
  }

  /** The hierarchy whose cgroup.procs tells which processes are inside. */
  private mainDir(path: string): string {
    return this.dir(this.version === 2 ? "memory" : "pids", path);
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
    const have = new Set(this.version === 2 ? this.facts.cgroupV2Controllers : Object.keys(this.facts.cgroupV1Mounts));
    const need: [keyof Limits, string][] = [["cpu", "cpu"], ["memory", "memory"], ["pids", "pids"], ["io", this.version === 2 ? "io" : "blkio"]];
    for (const [key, ctrl] of need) {
      if (l[key] && Object.keys(l[key]!).length && !have.has(ctrl)) out.push({ key, reason: `the ${ctrl} controller is not available on this host` });
    }
    if (l.cpu?.cpuset && !have.has("cpuset")) out.push({ key: "cpu.cpuset", reason: "the cpuset controller is not available on this host" });
    return out;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.tree.get()).dirs.has(this.mainDir(path));
  }

  private observed?: ControllerMapping["files"];

  /** Reads every file the mappings observe, in one batch. */
  async read(path: string): Promise<Files> {
    const tree = await this.tree.get();
    const wanted = (this.observed ??= this.mappings.flatMap((m) => m.files));
    return Object.fromEntries(wanted.map((f) => [fileKey(f), tree.files.get(`${this.dir(f.controller, path)}/${f.file}`)]));
  }

  /** What the node has used (memory, OOM kills, CPU time, tasks), in one batched read. */
  async usage(path: string): Promise<Usage> {
    const tree = await this.tree.get();
    const wanted = usageFiles[this.version];
    return parseUsage(this.version, Object.fromEntries(wanted.map(([c, f]) => [`${c}/${f}`, tree.files.get(`${this.dir(c, path)}/${f}`)])));
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
      await this.ensureRoot();
      if (parent && !(await this.exists(parent))) {
        throw new Error(`${this.t.target}: parent cgroup ${this.prefix}/${parent} does not exist`);
      }
      if (this.version === 2 && parent) await this.enableControllers([this.dir("cpu", parent)]);
      for (const h of this.hierarchies()) {
        const d = [h, this.prefix, path].join("/");
        const r = await this.t.run(["mkdir", d], { allowFailure: true });
        if (r.exitCode === 0) made.push(d);
        else if (!/File exists/.test(r.stderr)) throw new CommandError(this.t.target, r);
        else if (!opts.adopt) {
          throw new Error(
            `${this.t.target}: cgroup ${d} already exists (made by hand or by an earlier run); set adopt: true to take it over without disturbing it`,
          );
        }
      }
      if (this.version === 1 && this.facts.cgroupV1Mounts.cpuset) {
        // v1 children start with empty cpus/mems; clone_children makes them inherit the parent's.
        await this.t.writeFile(`${this.dir("cpuset", path)}/cgroup.clone_children`, "1");
      }
    } catch (e) {
      await undo();
      throw e;
    } finally {
      this.invalidate();
    }
    return undo;
  }

  private async ensureRoot(): Promise<void> {
    const dirs = this.hierarchies().map((h) => `${h}/${this.prefix}`);
    const script = [`mkdir -p ${dirs.map(shellQuote).join(" ")}`];
    if (this.version === 1 && this.facts.cgroupV1Mounts.cpuset) {
      const top = shellQuote(this.facts.cgroupV1Mounts.cpuset);
      const d = shellQuote(this.dir("cpuset", ""));
      // a v1 cpuset starts empty unless its parent clones (the host's root often does not): the
      // prefix takes the root's cpus and mems, or no child under it could be given any
      script.push(
        `{ [ -n "$(cat ${d}/cpuset.cpus)" ] || cat ${top}/cpuset.cpus > ${d}/cpuset.cpus; }`,
        `{ [ -n "$(cat ${d}/cpuset.mems)" ] || cat ${top}/cpuset.mems > ${d}/cpuset.mems; }`,
        `echo 1 > ${d}/cgroup.clone_children`,
      );
    }
    await this.t.run(["sh", "-c", script.join(" && ")]);
    if (this.version === 2) await this.enableControllers([this.facts.cgroupV2Mount!, this.dir("cpu", "")]);
  }

  /** v2: children see a controller only when their parent lists it in cgroup.subtree_control. */
  private async enableControllers(dirs: string[]): Promise<void> {
    for (const d of dirs) {
      const [available] = await this.t.readFiles([`${d}/cgroup.controllers`]);
      const wanted = ["cpu", "cpuset", "memory", "pids", "io"].filter((c) => (available ?? "").split(/\s+/).includes(c));
      if (!wanted.length) continue;
      try {
        await this.t.writeFile(`${d}/cgroup.subtree_control`, wanted.map((c) => `+${c}`).join(" "));
      } catch (e) {
        // v2's "no internal processes" rule: a cgroup holding processes cannot hand controllers to
        // children (EBUSY, which dash's printf reports as a bare "I/O error"). Say so.
        const [procs] = await this.t.readFiles([`${d}/cgroup.procs`]);
        const pids = (procs ?? "").split("\n").filter(Boolean);
        if (!pids.length) throw e;
        throw new Error(
          `${this.t.target}: cgroup ${d.slice(this.facts.cgroupV2Mount!.length + 1)} holds ${pids.length} process(es) (pids ${pids.slice(0, 10).join(", ")}); ` +
            `cgroup v2 allows child cgroups only below a node without processes of its own: move them into a child first`,
          { cause: e },
        );
      }
    }
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
        // v2's cpuset.cpus of a parent is often empty (inherited): its effective set is the value.
        const file = this.version === 2 ? `${s.file}.effective` : s.file;
        const [v] = await this.t.readFiles([`${this.dir(s.controller, parent)}/${file}`]);
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
    return [...tree.dirs].filter((d) => d.startsWith(`${top}/`) && !d.slice(top.length + 1).includes("/")).map((d) => d.slice(top.length + 1)).sort();
  }

  /** Kills every process in the node and below (cgroup.kill where the kernel has it), bounded. */
  async kill(path: string): Promise<void> {
    this.invalidate();
    if (this.version === 2 && this.facts.features.includes("cgroup-kill")) {
      await this.t.writeFile(`${this.dir("cpu", path)}/cgroup.kill`, "1");
    } else {
      // Freeze so nothing forks between listing and killing, then kill and thaw: v1's freezer
      // hierarchy, or v2's cgroup.freeze on kernels without cgroup.kill (before 5.14).
      const freezer =
        this.version === 2
          ? { file: `${this.dir("cpu", path)}/cgroup.freeze`, frozen: "1", thawed: "0" }
          : this.facts.cgroupV1Mounts.freezer
            ? { file: `${this.dir("freezer", path)}/freezer.state`, frozen: "FROZEN", thawed: "THAWED" }
            : undefined;
      if (freezer) await this.t.writeFile(freezer.file, freezer.frozen).catch(() => undefined);
      const pids = await this.procs(path);
      if (pids.length) await this.t.run(["kill", "-9", ...pids.map(String)], { allowFailure: true });
      if (freezer) await this.t.writeFile(freezer.file, freezer.thawed).catch(() => undefined);
    }
    for (let i = 0; i < 50; i++) {
      this.invalidate();
      if ((await this.procs(path)).length === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.t.target}: processes in cgroup ${this.prefix}/${path} survived SIGKILL for 5 s`);
  }

  /** The shell that removes the node from every hierarchy (a step of a whole operation's script; remove() runs it alone). */
  removeScript(path: string): string {
    const dirs = this.facts.cgroupMounts.map((m) => `${m}/${this.prefix}/${path}`);
    // rmdir sees EBUSY until the last killed process has left; on a loaded host that took more
    // than 1 s once (a delete failed under the kernel tier beside three lab VMs): retry for 5 s.
    return `for d in ${dirs.map(shellQuote).join(" ")}; do [ -d "$d" ] || continue; i=0; until rmdir "$d" 2>/dev/null; do i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.1; done; [ -d "$d" ] && { rmdir "$d"; exit 1; }; done; exit 0`;
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
