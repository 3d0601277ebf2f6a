import { rolling, type Rolling } from "../../../schema/container";
import { info } from "../../log";
import type { DiffResult } from "../provider-types";

/** What the permits read of a replica (its inputs or state): its bound and its name. */
type Replica = { rolling?: unknown; name?: unknown };

/** A replacement's delete keeps its permit this long for the create that replaces it (which may fail first). */
const keptMs = 30_000;

/** The bound in props (inputs or state), or undefined: none declared (check refuses a bad one, by the Container's schema). */
export function rollingOf(props: Replica): Rolling | undefined {
  const r = rolling.safeParse(props.rolling);
  return r.success ? r.data : undefined;
}

/**
 * A group's permits in this provider process. The engine runs one provider process for an up and
 * calls it for every Container of the stack, so a count kept here bounds what one up takes down at
 * once, without ordering the replicas' steps (a replica that does not change waits for nothing).
 */
class Permits {
  private waiting: (() => void)[] = [];
  /** Permits deletes keep for the creates that replace them, by container name. */
  readonly kept = new Map<string, NodeJS.Timeout>();
  constructor(private free: number) {}

  async take(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

// Process-wide, not a host read: a set's replicas span hosts, so its permits are no one host's view.
const groups = new Map<string, Permits>();
/** The replacements each group's diffs announced in this process: one preview or up. */
const replacing = new Map<string, Set<string>>();
/** Each group's bound as last declared: a replacement's delete has only the state it replaces. */
const declaredBounds = new Map<string, number>();

/**
 * Notes the declared bound; check calls it. The engine checks a resource's new inputs before its
 * steps, so the bound a delete-before-replace runs under is the one declared now, not the state's.
 */
export function noteBound(props: Replica): void {
  const r = rollingOf(props);
  if (r) declaredBounds.set(r.group, r.maxUnavailable);
}

function permitsOf(r: Rolling): Permits {
  let p = groups.get(r.group);
  if (!p) groups.set(r.group, (p = new Permits(declaredBounds.get(r.group) ?? r.maxUnavailable)));
  return p;
}

/** f while holding one of the group's permits: a restart or a move in place. */
export async function disrupting<T>(props: Replica, f: () => Promise<T>): Promise<T> {
  const r = rollingOf(props);
  if (!r) return f();
  const p = permitsOf(r);
  await p.take();
  try {
    return await f();
  } finally {
    p.give();
  }
}

/**
 * A replacement's delete takes a permit and keeps it for the create of the same name that replaces
 * it (the engine runs a delete-before-replace's two steps in turn); if no create follows, it gives
 * it back after keptMs. Other deletes (a destroy, a replica removed) take none: what they take down
 * is not to come back, and holding a permit each would run them one per keptMs.
 */
export async function deleting(props: Replica, f: () => Promise<void>): Promise<void> {
  const r = rollingOf(props);
  if (!r || !replacing.get(r.group)?.has(String(props.name))) return f();
  const p = permitsOf(r);
  await p.take();
  try {
    await f();
  } catch (e) {
    p.give();
    throw e;
  }
  const name = String(props.name);
  const timer = setTimeout(() => {
    p.kept.delete(name);
    p.give();
  }, keptMs);
  timer.unref();
  p.kept.set(name, timer);
}

/** A create, with the permit its replaced container's delete kept, given back when it is done. */
export async function creating<T>(props: Replica, f: () => Promise<T>): Promise<T> {
  const r = rollingOf(props);
  const p = r && groups.get(r.group);
  const name = String(props.name);
  const timer = p?.kept.get(name);
  if (!p || !timer) return f();
  clearTimeout(timer);
  p.kept.delete(name);
  try {
    return await f();
  } finally {
    p.give();
  }
}

/**
 * Says at preview which replacements of a group wait for a turn: diff sees each replica once, so
 * the ones past the bound are named as they come (which of them goes first is the engine's order).
 */
export function announceReplacement(props: Replica, r: DiffResult): DiffResult {
  const b = rollingOf(props);
  if (!b || !r.replaces?.length) return r;
  let names = replacing.get(b.group);
  if (!names) replacing.set(b.group, (names = new Set()));
  const name = String(props.name);
  if (names.has(name)) return r;
  names.add(name);
  const bound = declaredBounds.get(b.group) ?? b.maxUnavailable;
  if (names.size > bound) {
    info(
      `${name} is replaced in turn: ${b.group} takes at most ${bound} replica(s) down at once, and ${names.size - bound} of its ${names.size} replacements so far wait`,
    );
  }
  return r;
}
