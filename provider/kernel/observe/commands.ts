import type { HostLayout } from "../container/layout";
import type { RuntimeName } from "../host-facts";

/**
 * Commands an operator runs against one container, as argv (the transport quotes them for SSH). They stream, so they go through Transport.attach rather than run.
 */

/** The bundle's log (runtime and init output, supervisor lines); -F follows it across the supervisor's trims. */
export function logArgv(layout: HostLayout, name: string, opts: { lines: number; follow: boolean }): string[] {
  // an empty log says so (on stderr, so that stdout stays the log itself) instead of printing nothing;
  // the values travel as sh's positional arguments, never inside the script
  const script = `[ -s "$1" ] || echo "kslice: the log of container $2 is empty ($1)" >&2; exec tail -n "$3" ${opts.follow ? "-F " : ""}"$1"`;
  return ["sh", "-c", script, "sh", `${layout.bundle(name)}/log`, name, String(opts.lines)];
}

/** The runtime's exec: in the container's namespaces and cgroup, with its seccomp and capabilities. */
export function execArgv(runtime: RuntimeName, layout: HostLayout, name: string, command: string[], tty: boolean): string[] {
  return [runtime, "--root", layout.runtimeRoot, "exec", ...(tty ? ["-t"] : []), name, ...command];
}
