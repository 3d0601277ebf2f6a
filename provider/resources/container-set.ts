import * as pulumi from "@pulumi/pulumi";
import { Container, type ContainerArgs } from "./container";
import { Host } from "./host";
import { Placement, type PlacementAssignment } from "./placement";

/** A pool entry: a Host (draining when the Host says so), or a Host with `draining` set here. */
export type PoolHostArgs = Host | { host: Host; /** @default the Host's own `draining` */ draining?: pulumi.Input<boolean> };

export interface ContainerSetArgs {
  /** The hosts the replicas may run on, in order of preference when counts tie. */
  hosts: PoolHostArgs[];
  /** How many containers of the template run across the pool. */
  replicas: number;
  /**
   * Every replica's declaration: a Container's inputs without host, name and parent. A replica that
   * changes host migrates (`migration`); `onSourceLost` defaults to "recreate" here: a replica on a
   * host that stopped answering is made afresh on another.
   */
  template: Omit<ContainerArgs, "host" | "name" | "parent">;
  /** Replica i (from 1) is named `<namePrefix>-<i>` on its host. @default the set's name */
  namePrefix?: string;
  /**
   * How many replicas may be down at once: moving (stopped for their move, or copying to their new
   * host), replaced or restarted. A drain, the rebalance after an undrain and a limit change that
   * leaves a host without room move the replicas that many at a time, each move waiting for an
   * earlier one to finish; a template change that replaces or restarts them does so that many at a
   * time; all within one `up`. A whole number from 1 to `replicas`; refused at preview otherwise. Replicas whose host does
   * not answer are down already: they are recreated elsewhere at once, not counted. @default 1
   */
  maxUnavailable?: pulumi.Input<number>;
  /** Bound on asking each host whether it answers, at every preview and up. @default 10 */
  probeTimeoutSeconds?: pulumi.Input<number>;
}

/**
 * N replicas of one container declaration across a pool of Hosts: a Placement decides where each
 * runs (room for its declared memory and CPU on each machine, spread over machines (kernels), stable from one up to the next,
 * away from draining and unreachable hosts), and one Container per replica follows its answer.
 */
export class ContainerSet extends pulumi.ComponentResource {
  /** The Placement resource (`<name>-placement`) that decides each replica's host. */
  readonly placement: Placement;
  /** One Container per replica, `<namePrefix>-1` … `-<replicas>`, each on the host the placement gives it. */
  readonly containers: Container[];
  /** Replica name → host (the Host's name) and why it runs there. */
  readonly assignments: pulumi.Output<Record<string, PlacementAssignment>>;
  /** Replicas recreated away from an unreachable host at this up, and a pool with fewer machines than hosts (prefixes of one machine). */
  readonly warnings: pulumi.Output<string[]>;

  constructor(name: string, args: ContainerSetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kslice:index:ContainerSet", name, {}, opts);
    if (!Number.isInteger(args.replicas) || args.replicas < 1)
      throw new Error(`ContainerSet ${name}: replicas: got ${args.replicas}; expected a whole number of at least 1`);
    const prefix = args.namePrefix ?? name;
    const replicas = Array.from({ length: args.replicas }, (_, i) => `${prefix}-${i + 1}`);
    const entries = args.hosts.map((e) => (e instanceof Host ? { host: e, draining: undefined } : e));
    const pool = pulumi.all(
      entries.map((e) =>
        pulumi
          .all([e.host.poolEntry, e.host.ref, e.draining])
          .apply(([entry, ref, draining]) => ({ key: entry.key, host: ref, draining: draining ?? entry.draining })),
      ),
    );
    this.placement = new Placement(
      `${name}-placement`,
      {
        replicas,
        hosts: pool,
        limits: args.template.limits,
        maxUnavailable: args.maxUnavailable,
        probeTimeoutSeconds: args.probeTimeoutSeconds,
      },
      { parent: this },
    );
    this.assignments = this.placement.assignments;
    this.warnings = this.placement.warnings;
    // replacements and restarts of a template change: at most maxUnavailable at once too (a bad
    // value is the Placement's to refuse, naming the set's input)
    const rolling = pulumi.output(args.maxUnavailable ?? 1).apply((m) => ({ group: name, maxUnavailable: Number.isInteger(m) && m >= 1 ? m : 1 }));
    const byReplica = new Map<string, Container>();
    this.containers = replicas.map((replica, i) => {
      const host = pulumi.all([this.placement.assignments, pool]).apply(([assigned, hosts]) => {
        const key = assigned[replica]?.host;
        const entry = hosts.find((h) => h.key === key);
        if (!entry) throw new Error(`ContainerSet ${name}: replica ${replica} has no host in the placement (got ${JSON.stringify(key)})`);
        // A rolling move (ARCHITECTURE.md, "Rolling moves"): the new host reaches this Container only
        // once the move it waits for is done (that Container's urn resolves when the engine has
        // finished its step), so at most maxUnavailable replicas move at once within one up.
        const waitFor = assigned[replica]?.after;
        const earlier = waitFor === undefined ? undefined : byReplica.get(waitFor);
        return earlier ? earlier.urn.apply(() => entry.host) : pulumi.output(entry.host);
      });
      // a replica whose host stopped answering is made afresh elsewhere (the stale copy goes when it returns)
      const container = new Container(`${name}-${i + 1}`, { onSourceLost: "recreate", ...args.template, host, name: replica, rolling }, { parent: this });
      byReplica.set(replica, container);
      return container;
    });
    this.registerOutputs({ assignments: this.assignments, warnings: this.warnings });
  }
}
