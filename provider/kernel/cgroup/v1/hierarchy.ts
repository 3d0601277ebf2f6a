import { shellQuote, type Transport } from "../../../transport/transport";
import type { HostFacts } from "../../host-facts";
import { nodeDir, type CgroupHierarchy, type Freezer } from "../hierarchy";
import { v1Mappings } from "./index";

/** cgroup v1 (legacy, or hybrid with v1 controllers): one tree per controller, each holding every node. */
export class V1Hierarchy implements CgroupHierarchy {
  readonly version = 1;
  readonly controllers = v1Mappings;
  /** The pids tree lists a node's processes. */
  readonly procsController = "pids";
  readonly controllerNames = { cpu: "cpu", cpuset: "cpuset", memory: "memory", pids: "pids", io: "blkio" };

  constructor(
    private readonly t: Transport,
    private readonly facts: HostFacts,
    private readonly prefix: string,
  ) {}

  available(): Set<string> {
    return new Set(Object.keys(this.facts.cgroupV1Mounts));
  }

  mount(controller: string): string | undefined {
    return this.facts.cgroupV1Mounts[controller];
  }

  /** Every controller's tree, once (co-mounted controllers share one). */
  roots(): string[] {
    return [...new Set(Object.values(this.facts.cgroupV1Mounts))];
  }

  async prepareRoot(): Promise<void> {
    const script = [
      `mkdir -p ${this.roots()
        .map((r) => shellQuote(`${r}/${this.prefix}`))
        .join(" ")}`,
    ];
    const cpuset = this.mount("cpuset");
    if (cpuset) {
      const d = shellQuote(nodeDir(cpuset, this.prefix, ""));
      // a v1 cpuset starts empty unless its parent clones (the host's root often does not): the
      // prefix takes the root's cpus and mems, or no child under it could be given any
      script.push(
        `{ [ -n "$(cat ${d}/cpuset.cpus)" ] || cat ${shellQuote(cpuset)}/cpuset.cpus > ${d}/cpuset.cpus; }`,
        `{ [ -n "$(cat ${d}/cpuset.mems)" ] || cat ${shellQuote(cpuset)}/cpuset.mems > ${d}/cpuset.mems; }`,
        `echo 1 > ${d}/cgroup.clone_children`,
      );
    }
    await this.t.run(["sh", "-c", script.join(" && ")]);
  }

  /** Every v1 controller hands itself to children: nothing to delegate. */
  async prepareParent(): Promise<void> {}

  async prepareNode(path: string): Promise<void> {
    const cpuset = this.mount("cpuset");
    // v1 children start with empty cpus/mems; clone_children makes them inherit the parent's.
    if (cpuset) await this.t.writeFile(`${nodeDir(cpuset, this.prefix, path)}/cgroup.clone_children`, "1");
  }

  parentFile(file: string): string {
    return file;
  }

  /** v1 has no cgroup.kill: the driver's fallback kill. */
  killFile(): undefined {
    return undefined;
  }

  /** The freezer controller's tree, when the host mounts it. */
  freezer(path: string): Freezer | undefined {
    const freezer = this.mount("freezer");
    return freezer ? { file: `${nodeDir(freezer, this.prefix, path)}/freezer.state`, frozen: "FROZEN", thawed: "THAWED" } : undefined;
  }
}
