import type { ContainerArgs } from "../../../schema/container";

/**
 * The container's /proc views (kernel/container/lxcfs.ts). The runtime binds them from the
 * prefix's lxcfs mount at the start; an lxcfs that dies is started again on a new mount, but the
 * binds of containers started before still point at the dead one and every read of them fails
 * with ENOTCONN ("Transport endpoint is not connected"). diff sees it in the init's own /proc/uptime
 * (read from the host through /proc/<pid>/root, in the burst's read of every init) and update
 * restarts the container: a new start binds the live mount.
 */

/** A live init (its status readable) whose view of /proc/uptime cannot be read: its lxcfs died. */
export function procViewsStale(a: ContainerArgs, status: string | undefined, uptime: string | undefined): boolean {
  return a.procViews && status !== undefined && uptime === undefined;
}

/** A running container restarts when its views are stale or turned on or off (binds are made at a start only). */
export function procViewsRestart(olds: ContainerArgs, news: ContainerArgs, observed: { procViewsStale?: boolean }): boolean {
  return olds.procViews !== news.procViews || observed.procViewsStale === true;
}

/** Where Debian's lxcfs package puts the binary: the views need it on the host (checked at preview). */
export const lxcfsBinary = "/usr/bin/lxcfs";

/** The preview's test that the host has lxcfs when the views are on (admission's path tests). */
export function procViewsAdmission(a: ContainerArgs): { property: string; path: string; kind: "exists"; missing: string; got: string }[] {
  const missing = `no ${lxcfsBinary}: the views need lxcfs (Debian: apt-get install lxcfs); install it, or set procViews: false`;
  return a.procViews ? [{ property: "procViews", path: lxcfsBinary, kind: "exists", missing, got: "true" }] : [];
}
