// Command line of the bench: node dist/bench/containers.js [N ...] [--parallel P] [--no-podman] [--no-network] [--no-unsaved] [--subnet CIDR]
export interface Opts {
  /** Container counts, each measured in turn. */
  ns: number[];
  /** The engine's --parallel (up, destroy) and PULUMI_PARALLEL (preview, refresh). */
  parallel: number;
  /** Whether to measure the podman baseline. */
  podman: boolean;
  /** Whether to measure the same N containers each on a Network (the longest phase after the plain one). */
  network: boolean;
  /** Whether to create (and destroy) the floor and kslice's stacks again with the engine's per-step checkpoints skipped. */
  unsaved: boolean;
  /** The IPv4 range of the networked program's Network: free on the host, room for every N. */
  subnet: string;
}

export const usage = "usage: containers.js [N ...] [--parallel P] [--no-podman] [--no-network] [--no-unsaved] [--subnet CIDR]";

export function parseArgs(argv: string[]): Opts {
  const opts: Opts = { ns: [], parallel: 16, podman: true, network: true, unsaved: true, subnet: "10.241.0.0/22" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--parallel") opts.parallel = Number(argv[++i]);
    else if (arg === "--no-podman") opts.podman = false;
    else if (arg === "--no-network") opts.network = false;
    else if (arg === "--no-unsaved") opts.unsaved = false;
    else if (arg === "--subnet") opts.subnet = argv[++i] ?? "";
    else if (/^\d+$/.test(arg)) opts.ns.push(Number(arg));
    else throw new Error(`${usage}; got ${JSON.stringify(arg)}`);
  }
  if (!opts.ns.length) opts.ns = [10, 50, 200];
  // bounded: the default /22 holds 1000 addresses, and every phase's deadline grows with N
  for (const n of opts.ns) if (n < 1 || n > 1000) throw new Error(`N must be within 1..1000 (bounded); got ${n}`);
  const bits = Number(/^(?:\d{1,3}\.){3}\d{1,3}\/(\d{1,2})$/.exec(opts.subnet)?.[1] ?? NaN);
  const room = 2 ** (32 - bits) - 3; // network, gateway, broadcast
  if (!(room >= Math.max(...opts.ns)))
    throw new Error(`--subnet must be an IPv4 CIDR with room for ${Math.max(...opts.ns)} containers (e.g. 10.241.0.0/22); got ${JSON.stringify(opts.subnet)}`);
  if (!(opts.parallel >= 1 && opts.parallel <= 256)) throw new Error(`--parallel must be within 1..256`);
  return opts;
}
