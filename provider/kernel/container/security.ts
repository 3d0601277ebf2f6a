/**
 * The security state of a container's init as the kernel reports it (/proc/<pid>/status and
 * uid_map), compared with what its spec declares. config.json on the host says what kslice wrote,
 * not what runs: an init restarted by hand from an edited config, then the file put back, keeps
 * its other capabilities, filter or ids, and only the kernel shows it.
 */
import { capabilityNames } from "../capabilities";
import type { Transport } from "../../transport/transport";
import type { HostLayout } from "./layout";

export interface SecurityState {
  /**
   * Effective capabilities, by name (an unknown bit as CAP_<n>). Undefined in an expectation for
   * a non-root init: its execve clears them (no ambient set), so only the bounding set is compared.
   */
  capEff: string[] | undefined;
  capBnd: string[];
  /** 0 none, 1 strict, 2 filter. */
  seccomp: number;
  noNewPrivs: boolean;
  /** Host id that the container's id 0 maps to, and how many; 0 and 4294967295 outside a user namespace. */
  uidMap: { hostId: number; size: number };
}

// every container of a program mostly shows the same sets: decoded once each (callers copy before changing)
const capsKnown = new Map<string, readonly string[]>();

function capsOf(hex: string): string[] {
  let names = capsKnown.get(hex);
  if (!names) {
    if (capsKnown.size > 256) capsKnown.clear();
    capsKnown.set(hex, (names = decodeCaps(hex)));
  }
  return [...names];
}

function decodeCaps(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  const names: string[] = [];
  for (let bit = 0n; bit < 64n; bit++) if ((mask >> bit) & 1n) names.push((capabilityNames as readonly string[])[Number(bit)] ?? `CAP_${bit}`);
  return names.sort();
}

/** Parses /proc/<pid>/status and /proc/<pid>/uid_map; undefined when the process is gone. */
export function parseSecurity(status: string | undefined, uidMap: string | undefined): SecurityState | undefined {
  if (!status || uidMap === undefined) return undefined;
  const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, "m").exec(status)?.[1];
  const [, hostId, size] = (uidMap.trim().split("\n")[0] ?? "").trim().split(/\s+/).map(Number);
  return {
    capEff: capsOf(field("CapEff") ?? "0"),
    capBnd: capsOf(field("CapBnd") ?? "0"),
    seccomp: Number(field("Seccomp") ?? 0),
    noNewPrivs: field("NoNewPrivs") === "1",
    uidMap: { hostId: hostId ?? 0, size: size ?? 0 },
  };
}

/** What the kernel should show for a spec kslice wrote (its process and linux sections). */
export function expectedSecurity(spec: Record<string, unknown>): SecurityState {
  const process = spec.process as { user: { uid: number }; capabilities: { effective: string[]; bounding: string[] }; noNewPrivileges: boolean };
  const linux = spec.linux as { seccomp?: unknown; uidMappings?: { hostID: number; size: number }[] };
  const map = linux.uidMappings?.[0];
  return {
    capEff: process.user.uid === 0 ? [...process.capabilities.effective].sort() : undefined,
    capBnd: [...process.capabilities.bounding].sort(),
    seccomp: linux.seccomp ? 2 : 0,
    noNewPrivs: process.noNewPrivileges,
    uidMap: map ? { hostId: map.hostID, size: map.size } : { hostId: 0, size: 4294967295 },
  };
}

/** The facets that differ, in words for a message ("capabilities", "seccomp", …); empty when equal. */
export function securityDrift(want: SecurityState, have: SecurityState): string[] {
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  return [
    ...((want.capEff === undefined || same(want.capEff, have.capEff)) && same(want.capBnd, have.capBnd) ? [] : ["capabilities"]),
    ...(want.seccomp === have.seccomp ? [] : ["seccomp"]),
    ...(want.noNewPrivs === have.noNewPrivs ? [] : ["no_new_privs"]),
    ...(same(want.uidMap, have.uidMap) ? [] : ["uid_map"]),
  ];
}

// the third is read through the init's own mounts: a /proc view whose lxcfs died fails it (reconcile/container-proc.ts)
const initPaths = (pid: number) => [`/proc/${pid}/status`, `/proc/${pid}/uid_map`, `/proc/${pid}/root/proc/uptime`];

/** Each init's /proc status, uid_map and its view of /proc/uptime (undefined where unreadable), in one read. */
export async function readInitFiles(t: Pick<Transport, "readFiles">, pids: number[]): Promise<(string | undefined)[][]> {
  const read = await t.readFiles(pids.flatMap(initPaths));
  return pids.map((_, i) => read.slice(3 * i, 3 * i + 3));
}

/** The container's config.json, then its init's files as readInitFiles gives them: one read. */
export async function readSpecAndInit(t: Pick<Transport, "readFiles">, layout: HostLayout, name: string, pid: number): Promise<(string | undefined)[]> {
  return t.readFiles([`${layout.bundle(name)}/config.json`, ...initPaths(pid)]);
}
