import { portKey } from "../../../schema/container-network";

/** A published port as claimed (the parsed declaration). */
export interface PortDeclaration {
  protocol: string;
  hostAddress: string;
  hostPort: number;
}
import { shellQuote as q } from "../../transport/transport";
import type { HostLayout } from "../container/layout";

/**
 * Published ports claimed on the host, one file per container, checked and written under a lock:
 * a port another container publishes fails with exit status 4, naming it. No ports: the claim goes.
 */
export function claimPortsScript(layout: HostLayout, container: string, ports: PortDeclaration[]): string {
  const d = q(layout.ports);
  return [
    `mkdir -p ${d} ${q(layout.runDir)}; exec 9>${q(`${layout.runDir}/ports.lock`)}; flock -w 60 9 || exit 1`,
    ...ports.map((p, i) => {
      const any = p.hostAddress === "0.0.0.0";
      const re = `^${p.protocol}/${any ? "[^/]*" : `(${p.hostAddress.replace(/\./g, "\\.")}|0\\.0\\.0\\.0)`}/${p.hostPort}$`;
      return `o=$(grep -lE ${q(re)} ${d}/* 2>/dev/null | grep -vxF ${q(`${layout.ports}/${container}`)} | head -n 1); [ -z "$o" ] || { echo "ports[${i}]: ${p.protocol} ${p.hostAddress}:${p.hostPort} is already published by container \${o##*/}" >&2; exit 4; }`;
    }),
    ports.length ? `printf '%s\\n' ${ports.map((p) => q(portKey(p))).join(" ")} > ${q(`${layout.ports}/${container}`)}` : `rm -f ${q(`${layout.ports}/${container}`)}`,
    `exit 0`,
  ].join("\n");
}

/** Gives a container's port claim back. */
export const releasePortsScript = (layout: HostLayout, container: string) => `rm -f ${q(`${layout.ports}/${container}`)}; rmdir ${q(layout.ports)} 2>/dev/null; true`;
