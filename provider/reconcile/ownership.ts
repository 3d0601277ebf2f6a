import { stackOfUrn as stackOf } from "../../schema/urn";

export { stackOf };

/**
 * Ownership of kernel objects (ARCHITECTURE: "everything kslice makes has an owner"). The owner is
 * the URN of the resource that made an object; the resource classes pass it as the `owner` input.
 * State written before ownership existed has none: such objects are ownerless.
 */
export const ownerOf = (props: { owner?: unknown }): string | undefined => (typeof props.owner === "string" && props.owner ? props.owner : undefined);

/**
 * Why `mine` may not take over an object recorded as `recorded`'s, or undefined when it may:
 * ownerless and own objects are adopted (crash recovery), another owner's only with adopt: true.
 */
export function ownerConflict(what: string, recorded: string | undefined, mine: string | undefined, adopt: boolean): string | undefined {
  if (!recorded || recorded === mine || adopt) return undefined;
  return `${what} already belongs to ${recorded} (stack ${stackOf(recorded)}); set adopt: true to take it over`;
}

/** Reads an owner field from a JSON record (kslice.json, network.json, a budget's record). */
export function recordedOwner(json: string | undefined): string | undefined {
  if (!json) return undefined;
  try {
    const o = (JSON.parse(json) as { owner?: unknown }).owner;
    return typeof o === "string" && o ? o : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Names and subnets declared in one program, claimed at check. The engine runs every check of a
 * deployment in one dynamic-provider process, so a map in this process sees the whole program.
 * Each URN holds one value per scope; a re-check of the same URN with another value releases the
 * old one.
 */
// Not a host read, so not a HostView's: what the program declares, never invalidated by a change
// of a host, and some scopes span a machine's prefixes (subnets).
const claims = new Map<string, Map<string, string>>();

/** Claims `value` in `scope` for `urn`; returns the other URNs whose claims clash with it. */
export function claim(scope: string, urn: string, value: string, clash: (a: string, b: string) => boolean = (a, b) => a === b): string[] {
  let held = claims.get(scope);
  if (!held) claims.set(scope, (held = new Map()));
  held.set(urn, value);
  return [...held].filter(([u, v]) => u !== urn && clash(v, value)).map(([u]) => u);
}

/**
 * Records `value` in `scope` for `urn`, as claim does, and returns every URN's value in that scope,
 * this one's included: what the program declares together (a disk budget's children, the room its
 * new disk images take on one host).
 */
export function declaredTogether(scope: string, urn: string, value: string): Map<string, string> {
  let held = claims.get(scope);
  if (!held) claims.set(scope, (held = new Map()));
  held.set(urn, value);
  return new Map(held);
}

/** Drops this process's claims (tests run many programs in one process). */
export function forgetClaims(): void {
  claims.clear();
}
