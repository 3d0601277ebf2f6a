import type { ControllerMapping } from "./settings";

/** The limits kslice declares, by the name of the controller that enforces each on a hierarchy. */
export type ControllerNames = Record<"cpu" | "cpuset" | "memory" | "pids" | "io", string>;

/** How a node is frozen: the file, and what is written to freeze and to thaw it. */
export interface Freezer {
  file: string;
  frozen: string;
  thawed: string;
}

/**
 * One cgroup version's hierarchy on one host, for one prefix: everything that differs between v1
 * and v2. The factory (factory.ts) picks one from the host's facts, once; the driver (driver.ts),
 * the sampler and their callers only ever see this interface, so nothing above branches on the
 * version (ARCHITECTURE.md, "cgroup v1 and v2").
 */
export interface CgroupHierarchy {
  /** For what must tell the runtime (the OCI spec's cgroup namespace, a report): never branched on here. */
  readonly version: 1 | 2;
  /** The controllers, each mapping limits onto its files and reporting its own usage and counters. */
  readonly controllers: readonly ControllerMapping[];
  /** The controller whose hierarchy's cgroup.procs lists a node's processes, and whose directories are the nodes. */
  readonly procsController: string;
  /** Which controller each kind of limit needs (v1 calls io "blkio"). */
  readonly controllerNames: ControllerNames;
  /** The controllers this host offers. */
  available(): Set<string>;
  /** The mount holding a controller's files; undefined when the host has no hierarchy for it. */
  mount(controller: string): string | undefined;
  /** The hierarchies where kslice makes its directories (each gets `<prefix>/` and every node). */
  roots(): string[];
  /** Makes the prefix's directory in every root, ready to hold nodes (idempotent, safe in parallel). */
  prepareRoot(): Promise<void>;
  /** Makes a node's parent ready for a child, before the child's directories are made. */
  prepareParent(parent: string): Promise<void>;
  /** Makes a node just created ready for its settings. */
  prepareNode(path: string): Promise<void>;
  /** The parent's file whose content a `parentValue` setting of `file` takes. */
  parentFile(file: string): string;
  /** The file whose write of "1" kills every process in a node and below, when the kernel has one. */
  killFile(path: string): string | undefined;
  /** The freezer the fallback kill holds a node still with, when the host has one. */
  freezer(path: string): Freezer | undefined;
}

/** A node's directory in a hierarchy mounted at `mount` (path below the prefix, "" for the prefix's own). */
export function nodeDir(mount: string, prefix: string, path: string): string {
  return [mount, prefix, path].filter(Boolean).join("/");
}
