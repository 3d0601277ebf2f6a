import type { Connection } from "../../../schema/connection";
import type { ContainerArgs } from "../../../schema/container";
import type { InputFailure } from "../../../schema/issues";
import { readableSize } from "../../../schema/units";
import { connectionKey } from "../../kernel/connection";
import { readDiskRoom } from "../../kernel/container/disk";
import { hostLayout } from "../../kernel/container/layout";
import { upperBytes } from "../../kernel/container/migrate";
import { answers, liveNetworkBlocker, readLiveSupport } from "../../kernel/container/move";
import { chooseRuntime } from "../../kernel/host-facts";
import { showSize } from "../disk-budget";
import { hostContext, type HostContext } from "../host-context";
import { hostMoved, machineIdentity } from "../host-identity";
import type { State, Unchecked } from "../kind";
import { containsUnknown } from "../unknown";
import { promisedBytes } from "./disk";
import { declaration, replaceKeys, withHostDefaults, type Ct } from "./inputs";
import { interrupted } from "./move-records";
import { hasNetworking } from "./network";
import { info, warn } from "../../log";

// Whether a change of host is a move, and what check and preview say of one (move.ts makes it).

export type HostRef = ContainerArgs["host"];

/** How messages name a host: its connection, and its prefix when the move changes that. */
export function where(host: HostRef, other: HostRef): string {
  return host.prefix === other.prefix ? connectionKey(host.connection) : `${connectionKey(host.connection)} (prefix ${host.prefix})`;
}

/** The same connection with a short connect timeout: a lost host must not hold a preview long. */
export function quick(connection: Connection): Connection {
  return connection.type === "ssh" ? { ...connection, connectTimeoutSeconds: Math.min(3, connection.connectTimeoutSeconds) } : connection;
}

/** The host's context, or why it cannot be reached. */
export async function reach(host: HostRef, fast = false): Promise<{ h: HostContext } | { error: string }> {
  try {
    const h = await hostContext(fast ? { ...host, connection: quick(host.connection) } : host);
    await answers(h.t);
    return { h };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * A change of host that is a move: nothing else that replaces changed, and the machine or the
 * prefix is another. Diff and update take it (the container migrates) instead of a replacement.
 */
export async function moveOf(olds: Partial<State<Ct>>, news: Unchecked<Ct>): Promise<{ o: ContainerArgs; a: ContainerArgs } | undefined> {
  const o = declaration(olds);
  const a = declaration(news);
  if (!o || !a) return undefined;
  if (replaceKeys.some((k) => JSON.stringify(o[k]) !== JSON.stringify(a[k]))) return undefined;
  return (await hostMoved(olds, o.host, a.host)) ? { o, a } : undefined;
}

/** Why `host` cannot checkpoint and restore a container (on a Network when `networked`), or undefined when it can. */
export async function liveUnsupported(h: HostContext, host: HostRef, networked = false): Promise<string | undefined> {
  const chosen = chooseRuntime(h.facts, host.runtime ?? "auto");
  if ("error" in chosen) return chosen.error;
  const answer = await readLiveSupport(h.t, chosen.runtime.name);
  if (answer !== "ok") return answer;
  return networked && chosen.runtime.name !== "runc" ? liveNetworkBlocker : undefined;
}

/**
 * The migration mode to use, or why the declared one cannot be had: live needs both hosts able to
 * checkpoint and restore, and runc on both when the container is on a Network (`networked`: see
 * liveNetworkBlocker).
 */
export async function chooseMode(
  declared: ContainerArgs["migration"],
  from: { h: HostContext; host: HostRef; name: string },
  to: { h: HostContext; host: HostRef; name: string },
  networked = false,
): Promise<{ mode: "cold" | "live"; fallback?: string } | { error: string }> {
  if (declared === "cold") return { mode: "cold" };
  const why = [
    await liveUnsupported(from.h, from.host, networked).then((w) => w && `host ${from.name}: ${w}`),
    await liveUnsupported(to.h, to.host, networked).then((w) => w && `host ${to.name}: ${w}`),
  ]
    .filter(Boolean)
    .join("; ");
  if (!why) return { mode: "live" };
  return declared === "live" ? { error: why } : { mode: "cold", fallback: why };
}

/** Preview's word on a move: which container migrates where, how, or why it cannot. */
export async function announce(o: ContainerArgs, a: ContainerArgs, owner: string | undefined): Promise<void> {
  const fromName = where(o.host, a.host);
  const toName = where(a.host, o.host);
  const source = await reach(o.host, true);
  if ("error" in source) {
    if (a.onSourceLost === "fail") {
      throw new Error(
        `container ${a.name}: cannot migrate from host ${fromName}, which cannot be reached (${source.error}); set onSourceLost: "recreate" to create it afresh on ${toName} without its data`,
      );
    }
    warn(`container ${a.name} will be re-created EMPTY on ${toName}: host ${fromName} cannot be reached (${source.error}), onSourceLost: "recreate"`);
    return;
  }
  const target = await reach(a.host);
  if ("error" in target) throw new Error(`container ${a.name}: cannot migrate to host ${toName}: ${target.error}`);
  const prior = await interrupted(target.h, o, a, owner);
  if (prior && prior.phase !== "copying") {
    info(`container ${a.name}: its migration from ${fromName} to ${toName} was interrupted after its data moved: it will be taken over there as it is`);
    return;
  }
  const chosen = await chooseMode(a.migration, { h: source.h, host: o.host, name: fromName }, { h: target.h, host: a.host, name: toName }, hasNetworking(a));
  if ("error" in chosen) throw new Error(`container ${a.name}: migration: "live" is not possible: ${chosen.error}`);
  const fallback = chosen.fallback ? ` (live is not possible: ${chosen.fallback})` : "";
  const resumed = prior ? " (resuming the one interrupted during its copy)" : "";
  info(`container ${a.name} will migrate from ${fromName} to ${toName} (${chosen.mode})${fallback}${resumed}`);
}

/**
 * A move is refused at check when its target has no room for the container, naming the target,
 * the bytes it needs and the bytes free there: its `disk.max` (the image the target makes, counted
 * whole as at any create: disk.ts diskRoomShortfall) or, without a disk limit, what its writable
 * layer takes on the source now. The other images' unwritten part on the target's prefix counts as
 * taken. Hosts that cannot be reached are left to diff and update (onSourceLost), and a target that
 * already holds the container's image (an interrupted move) needs no new room.
 */
export async function roomAdmission(olds: Partial<State<Ct>>, news: Unchecked<Ct>): Promise<InputFailure[]> {
  if (containsUnknown(news)) return [];
  const o = declaration(olds);
  // the disk the check will give it: declared, or the Host's default
  const a = declaration(withHostDefaults(olds, news, news.hostDefaults));
  const ends = o && a ? await movingEnds(o, a) : undefined;
  if (!o || !a || !ends) return [];
  const { source, target } = ends;
  const layout = hostLayout(a.host.prefix);
  const room = await readDiskRoom(target.h.t, layout);
  if (room.images.has(a.name)) return [];
  const need = a.disk ? a.disk.max : await upperBytes(source.h.t, hostLayout(o.host.prefix).bundle(o.name));
  const promised = promisedBytes(room, a.name);
  const left = room.avail - promised;
  if (need <= left) return [];
  const what = a.disk
    ? `its disk.max ${showSize(a.disk.max)} (the image it gets there)`
    : `${readableSize(need)} (${need} bytes) for its writable layer, what it takes on host ${where(o.host, a.host)} now`;
  const held = promised
    ? ` (${readableSize(promised)} of it promised to the unwritten part of that prefix's disk images: ${readableSize(Math.max(0, left))} left)`
    : "";
  return [
    {
      property: "host",
      reason: `container ${a.name} cannot migrate to host ${where(a.host, o.host)}: it needs ${what}, and that host has ${readableSize(room.avail)} (${room.avail} bytes) free under ${layout.stateDir}${held}: ${readableSize(need - left)} short`,
    },
  ];
}

/**
 * Both ends of a move at check, reached: undefined when the container does not move (same host
 * and prefix, under either name) or when a host cannot be reached (left to diff and update,
 * onSourceLost).
 */
async function movingEnds(o: ContainerArgs, a: ContainerArgs) {
  if (o.host.prefix === a.host.prefix && JSON.stringify(o.host.connection) === JSON.stringify(a.host.connection)) return undefined;
  const source = await reach(o.host, true);
  const target = await reach(a.host);
  if ("error" in source || "error" in target) return undefined;
  const same = machineIdentity(source.h.facts, o.host.connection) === machineIdentity(target.h.facts, a.host.connection);
  return same && o.host.prefix === a.host.prefix ? undefined : { source, target };
}

/**
 * migration: "live" is refused at check when the container moves and either host cannot
 * checkpoint and restore (naming the host and why). A source that cannot be reached is left to
 * diff and update (onSourceLost).
 */
export async function liveAdmission(olds: Partial<State<Ct>>, inputs: Unchecked<Ct>): Promise<InputFailure[]> {
  if (inputs.migration !== "live") return [];
  const o = declaration(olds);
  const a = declaration(inputs);
  const ends = o && a ? await movingEnds(o, a) : undefined;
  if (!o || !a || !ends) return [];
  const { source, target } = ends;
  const chosen = await chooseMode(
    "live",
    { h: source.h, host: o.host, name: where(o.host, a.host) },
    { h: target.h, host: a.host, name: where(a.host, o.host) },
    hasNetworking(a),
  );
  return "error" in chosen
    ? [{ property: "migration", reason: `got "live", but the container cannot move live: ${chosen.error}; use "live-or-cold" or "cold"` }]
    : [];
}
