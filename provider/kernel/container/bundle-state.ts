import { shellQuote as q, type Transport } from "../../transport/transport";
import { removeBootUnitScript } from "./boot";
import type { HostLayout } from "./layout";
import { stopLxcfsScript } from "./lxcfs";
import { removeLogCgroupScript } from "./log-writer";

/**
 * A bundle is incomplete while its "creating" marker is there (the create's last step removes
 * it) or when it has no kslice.json: a create killed halfway. The marker holds the cgroup path.
 * Prints "<name> <cgroup path>" for each such bundle of the prefix.
 */
export function incompleteBundlesScript(layout: HostLayout, only?: string): string {
  const glob = only === undefined ? `${q(layout.containers)}/*` : q(layout.bundle(only));
  return `for b in ${glob}; do [ -d "$b" ] || continue; if [ -f "$b/creating" ] || [ ! -f "$b/kslice.json" ]; then echo "\${b##*/} $(cat "$b/creating" 2>/dev/null)"; fi; done; true`;
}

/** Parses incompleteBundlesScript's output: name → cgroup path ("" when the marker is gone or empty). */
export function parseIncompleteBundles(out: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of out.split("\n").filter(Boolean)) {
    const [name, path] = line.split(" ") as [string, string | undefined];
    found.set(name, path ?? "");
  }
  return found;
}

/** The prefix's incomplete bundles (or only `only`'s): name → cgroup path, as parseIncompleteBundles gives them (one command). */
export async function readIncompleteBundles(t: Pick<Transport, "run">, layout: HostLayout, only?: string): Promise<Map<string, string>> {
  return parseIncompleteBundles((await t.run(["sh", "-c", incompleteBundlesScript(layout, only)])).stdout);
}

/** The record (kslice.json: spec hash, lower, owner, uid base) of the bundle at `bundle`, as it is on the host; undefined when there is none. */
export async function readBundleRecord(t: Pick<Transport, "readFiles">, bundle: string): Promise<string | undefined> {
  const [meta] = await t.readFiles([`${bundle}/kslice.json`]);
  return meta;
}

/** Removes a bundle; the prefix's last container takes the boot unit and lxcfs with it (Host delete does too). */
export function removeBundleScript(prefix: string, layout: HostLayout, name: string): string {
  return `rm -rf ${q(layout.bundle(name))} || exit 1; [ -n "$(ls -A ${q(layout.containers)} 2>/dev/null)" ] || { ${removeBootUnitScript(prefix)}
${stopLxcfsScript(prefix, layout)}
${removeLogCgroupScript(prefix)}; }`;
}

/** Makes the empty log, root's alone. */
export const createLogScript = (log: string) => `umask 077; : > ${q(log)}`;
