import { containerArgs, disk, type ContainerArgs } from "../../../schema/container";
import { parseInput, type InputFailure } from "../../../schema/issues";
import type { State, Unchecked } from "../kind";
import { kindInputs } from "../kind";
import { containerKind } from "../kinds";
import { containsUnknown } from "../unknown";

/**
 * A Container's inputs as the engine hands them over, and the declaration (parsed once, below):
 * without `owner` (kept in state, never diffed: see ownership.ts) and `diskFrom` (a `disk` that
 * check took from the Host's defaults: withHostDefaults).
 */
const { pickInputs, declared } = kindInputs(containerKind);
export type Ct = typeof containerKind;
export { pickInputs };

/** Inputs a running container cannot take: changing them replaces it (delete first: names are unique). */
export const replaceKeys = containerKind.replaces;

/**
 * The Host's default disk limit (its `defaults.disk`, passed along as `hostDefaults`) for a
 * container that declares no `disk`: taken at its create (olds without a name) and kept following
 * the default while it came from there (`diskFrom: "host"` in state). A container made without a
 * limit does not get one from a later default: adding a disk is a replacement, and its writable
 * layer would be lost without the user having asked. A removed default leaves the last one.
 */
export function withHostDefaults(olds: Partial<State<Ct>>, inputs: Unchecked<Ct>, hostDefaults: unknown): Unchecked<Ct> {
  if (inputs.disk !== undefined) return inputs;
  const d =
    hostDefaults && typeof hostDefaults === "object" && !containsUnknown(hostDefaults) ? disk.safeParse((hostDefaults as { disk?: unknown }).disk) : undefined;
  const fromHost = olds.diskFrom === "host";
  const isNew = typeof olds.name !== "string";
  if (d?.success && (isNew || fromHost)) return { ...inputs, disk: (hostDefaults as { disk: unknown }).disk, diskFrom: "host" };
  if (fromHost && olds.disk !== undefined) return { ...inputs, disk: olds.disk, diskFrom: "host" };
  return inputs;
}

// check and diff hand over the same declaration several times, each a fresh object: parsed once
// per declaration (its JSON text) and per object; frozen, since calls share it. Process-wide: a
// parse of the program's inputs, not a read of any host.
type Parsed = { ok: true; value: ContainerArgs } | { ok: false; failures: InputFailure[] };
const parsed = new WeakMap<object, Parsed>();
const byText = new Map<string, Parsed>();
const byTextMax = 4096;

export function parseDeclared(props: Unchecked<Ct>): Parsed {
  let r = parsed.get(props);
  if (r) return r;
  const d = declared(props);
  const text = JSON.stringify(d);
  r = byText.get(text);
  if (!r) {
    r = deepFreeze(parseInput(containerArgs, d));
    // a bounded memo: an up of N containers holds about 2N declarations at once
    if (byText.size >= byTextMax) byText.clear();
    byText.set(text, r);
  }
  parsed.set(props, r);
  return r;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** The declaration in props (inputs or outputs), or undefined when it is not a valid one. */
export function declaration(props: Unchecked<Ct>): ContainerArgs | undefined {
  const r = parseDeclared(props);
  return r.ok ? r.value : undefined;
}

export function parse(props: Unchecked<Ct>): ContainerArgs {
  const r = parseDeclared(props);
  if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
  return r.value;
}
