import { portKey } from "../../../schema/container-network";
import { canonical6 } from "../../../schema/ipv6";

/** A published port as claimed (the parsed declaration). */
export interface PortDeclaration {
  protocol: string;
  hostAddress: string;
  hostPort: number;
}
import { shellQuote as q } from "../shell";
import type { HostLayout } from "../container/layout";
import { durably } from "../durable";
import type { CommandResult, Transport } from "../../transport/transport";

/**
 * Every prefix's port claims: host ports belong to the machine, whatever prefix publishes them
 * (a DNAT in one prefix's table and one in another's would fight over the same packets).
 */
export const allPortClaims = "/var/lib/*/ports";

/** Prints the owner URN recorded in a bundle's kslice.json ($1), or nothing. */
const ownerFn = `own() { sed -n 's/.*"owner": *"\\([^"]*\\)".*/\\1/p' "$1" 2>/dev/null | head -n 1; }`;

/**
 * Published ports claimed on the host, one file per container, checked and written under the
 * host-wide lock (flock on /var/lib, as for user-namespace ranges) against the claims of every
 * prefix: a port another container publishes, under this prefix or another, fails with exit status
 * 4, naming the holder (its prefix, name and owner). A claim of another prefix by the same owner
 * (this resource moving between prefixes of one machine) is not a clash. No ports: the claim goes.
 */
export function claimPortsScript(layout: HostLayout, container: string, ports: PortDeclaration[]): string {
  const d = q(layout.ports);
  const mine = q(`${layout.ports}/${container}`);
  return [
    `mkdir -p ${d}; exec 9</var/lib; flock -w 60 9 || { echo "timed out waiting for the lock of /var/lib (published ports)" >&2; exit 1; }`,
    ownerFn,
    `me=$(own ${q(`${layout.bundle(container)}/kslice.json`)})`,
    ...ports.map((p, i) => {
      const any = p.hostAddress === "0.0.0.0";
      const re = `^${p.protocol}/${any ? "[^/]*" : `(${canonical6(p.hostAddress).replace(/\./g, "\\.")}|0\\.0\\.0\\.0)`}/${p.hostPort}$`;
      return [
        `o=$(grep -lE ${q(re)} ${allPortClaims}/* 2>/dev/null | grep -vxF ${mine} | while read -r f; do`,
        `  x=\${f%/ports/*}; x=\${x##*/}; c=\${f##*/}; w=$(own "/var/lib/$x/containers/$c/kslice.json")`,
        `  [ -n "$me" ] && [ "$w" = "$me" ] && continue; echo "$x $c \${w:--}"; break`,
        `done)`,
        `[ -z "$o" ] || { set -- $o; echo "ports[${i}]: ${p.protocol} ${p.hostAddress}:${p.hostPort} is already published by container $2 under prefix $1 (owner $3)" >&2; exit 4; }`,
      ].join("\n");
    }),
    ports.length ? `printf '%s\\n' ${ports.map((p) => q(portKey(p))).join(" ")} > ${mine}` : `rm -f ${mine}`,
    `exit 0`,
  ].join("\n");
}

/**
 * Every prefix's port claims, one line per claimed port: "<prefix> <container> <owner or -> <key>"
 * (keys of kslice's form only: another program's /var/lib/<x>/ports is left out), then "@@".
 */
export function portClaimsReadScript(): string {
  return [
    ownerFn,
    `for f in ${allPortClaims}/*; do [ -f "$f" ] || continue; x=\${f%/ports/*}; x=\${x##*/}; c=\${f##*/}; w=$(own "/var/lib/$x/containers/$c/kslice.json")`,
    `  grep -E '^(tcp|udp)/[0-9a-f.:]+/[0-9]+$' "$f" | sed "s|^|$x $c \${w:--} |"`,
    `done; echo @@`,
  ].join("\n");
}

export interface PortClaim {
  prefix: string;
  container: string;
  owner: string | undefined;
  key: string;
}

export function parsePortClaims(out: string): PortClaim[] {
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [prefix = "", container = "", owner = "", key = ""] = l.split(" ");
      return { prefix, container, owner: owner === "-" ? undefined : owner, key };
    })
    .filter((c) => c.key);
}

/** Gives a container's port claim back. */
export const releasePortsScript = (layout: HostLayout, container: string) =>
  `rm -f ${q(`${layout.ports}/${container}`)}; rmdir ${q(layout.ports)} 2>/dev/null; true`;

/** Gives a container's port claim back, on disk when it returns: one command. */
export const releasePorts = (t: Pick<Transport, "run">, layout: HostLayout, container: string): Promise<CommandResult> =>
  t.run(["sh", "-c", durably(releasePortsScript(layout, container), [layout.ports])]);
