import { shellQuote as q } from "../shell";
import type { HostLayout } from "../container/layout";

/**
 * route_localnet lets a bridge carry packets from and to 127.0.0.0/8: a port published to
 * 127.0.0.1 (or 0.0.0.0) is DNATed to a container out of the bridge with a loopback source, and its
 * replies come back to 127.0.0.1. It also opens the host's loopback to the bridge's containers
 * (CVE-2020-8558; the guard chain drops that, see nft.ts), so a bridge has it only while some
 * running container publishes such a port on it. Who needs it is kept as one empty file per
 * container under /run/<prefix>/localnet/<bridge>/; the bridge's value follows from that directory.
 */
export const localnetDir = (layout: HostLayout) => `${layout.runDir}/localnet`;

/** Shell printing 1 if the bridge must have route_localnet, else 0. */
export const localnetWanted = (layout: HostLayout, bridge: string) =>
  `$([ -n "$(ls -A ${q(`${localnetDir(layout)}/${bridge}`)} 2>/dev/null)" ] && echo 1 || echo 0)`;

/** Sets route_localnet on an existing bridge as its markers say. */
export const applyLocalnet = (layout: HostLayout, bridge: string) =>
  `echo ${localnetWanted(layout, bridge)} > /proc/sys/net/ipv4/conf/${bridge}/route_localnet`;

/**
 * Records that `container` needs route_localnet on exactly `bridges` (none: on no bridge) and sets
 * every recorded bridge accordingly, under a lock so that two containers of one bridge cannot
 * leave a stale value behind.
 */
export function localnetScript(layout: HostLayout, container: string, bridges: string[]): string {
  const d = localnetDir(layout);
  return [
    // nothing recorded and nothing to record: leave /run/<prefix> alone (it may be gone with the host)
    ...(bridges.length ? [] : [`[ -d ${q(d)} ] || exit 0`]),
    `mkdir -p ${q(layout.runDir)}; exec 7>${q(`${layout.runDir}/localnet.lock`)}; flock -w 60 7 || { echo "timed out waiting for the route_localnet lock" >&2; exit 1; }`,
    `rm -f ${q(d)}/*/${q(container)} 2>/dev/null`,
    ...bridges.map((b) => `mkdir -p ${q(`${d}/${b}`)} && : > ${q(`${d}/${b}/${container}`)} || exit 1`),
    `for x in ${q(d)}/*/; do`,
    `  [ -d "$x" ] || continue; b=\${x%/}; b=\${b##*/}`,
    `  if [ -n "$(ls -A "$x")" ]; then v=1; else v=0; rmdir "$x"; fi`,
    `  [ -e "/proc/sys/net/ipv4/conf/$b" ] && echo $v > "/proc/sys/net/ipv4/conf/$b/route_localnet"`,
    `done`,
    `rmdir ${q(d)} 2>/dev/null`,
    `exit 0`,
  ].join("\n");
}
