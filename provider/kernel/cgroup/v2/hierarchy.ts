import { shellQuote, type Transport } from "../../../transport/transport";
import type { HostFacts } from "../../host-facts";
import { nodeDir, type CgroupHierarchy, type Freezer } from "../hierarchy";
import { v2Mappings } from "./index";

/** cgroup v2: one unified tree, in which a child sees a controller only when its parent delegates it. */
export class V2Hierarchy implements CgroupHierarchy {
  readonly version = 2;
  readonly controllers = v2Mappings;
  /** One tree: any controller's directory is the node's. */
  readonly procsController = "memory";
  readonly controllerNames = { cpu: "cpu", cpuset: "cpuset", memory: "memory", pids: "pids", io: "io" };
  private readonly root: string;

  constructor(
    private readonly t: Transport,
    private readonly facts: HostFacts,
    private readonly prefix: string,
  ) {
    this.root = facts.cgroupV2Mount!;
  }

  available(): Set<string> {
    return new Set(this.facts.cgroupV2Controllers);
  }

  mount(): string {
    return this.root;
  }

  roots(): string[] {
    return [this.root];
  }

  async prepareRoot(): Promise<void> {
    await this.t.run(["sh", "-c", `mkdir -p ${shellQuote(`${this.root}/${this.prefix}`)}`]);
    await this.delegate([this.root, this.dir("")]);
  }

  async prepareParent(parent: string): Promise<void> {
    await this.delegate([this.dir(parent)]);
  }

  async prepareNode(): Promise<void> {}

  /** A parent's cpuset.cpus is often empty (inherited): its effective set is the value. */
  parentFile(file: string): string {
    return `${file}.effective`;
  }

  /** cgroup.kill: from kernel 5.14. */
  killFile(path: string): string | undefined {
    return this.facts.features.includes("cgroup-kill") ? `${this.dir(path)}/cgroup.kill` : undefined;
  }

  freezer(path: string): Freezer {
    return { file: `${this.dir(path)}/cgroup.freeze`, frozen: "1", thawed: "0" };
  }

  private dir(path: string): string {
    return nodeDir(this.root, this.prefix, path);
  }

  /** Children see a controller only when their parent lists it in cgroup.subtree_control. */
  private async delegate(dirs: string[]): Promise<void> {
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
          `${this.t.target}: cgroup ${d.slice(this.root.length + 1)} holds ${pids.length} process(es) (pids ${pids.slice(0, 10).join(", ")}); ` +
            `cgroup v2 allows child cgroups only below a node without processes of its own: move them into a child first`,
          { cause: e },
        );
      }
    }
  }
}
