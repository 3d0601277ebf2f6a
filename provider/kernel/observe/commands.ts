import type { HostLayout } from "../container/layout";
import type { RuntimeName } from "../host-facts";

/**
 * Commands an operator runs against one container, as argv (no shell: the transport quotes them
 * for SSH). They stream, so they go through Transport.attach rather than run.
 */

/** The bundle's log (runtime and init output, supervisor lines); -F follows it across the supervisor's trims. */
export function logArgv(layout: HostLayout, name: string, opts: { lines: number; follow: boolean }): string[] {
  return ["tail", "-n", String(opts.lines), ...(opts.follow ? ["-F"] : []), `${layout.bundle(name)}/log`];
}

/** The runtime's exec: in the container's namespaces and cgroup, with its seccomp and capabilities. */
export function execArgv(runtime: RuntimeName, layout: HostLayout, name: string, command: string[], tty: boolean): string[] {
  return [runtime, "--root", layout.runtimeRoot, "exec", ...(tty ? ["-t"] : []), name, ...command];
}
