import type { Usage } from "../../kernel/cgroup/usage";
import type { NetDrift } from "../../kernel/network/attach";

/** A container's state as the runtime reports it; "missing": no runtime state (a bundle alone is "stopped"). */
export type Status = "running" | "stopped" | "created" | "paused" | "missing";

/** Its init lives: running, or paused (frozen, with its pid; update thaws it). */
export const isLive = (status: unknown): boolean => status === "running" || status === "paused";

/** What the kernel shows of one container (observe.ts). */
export interface Observed {
  status: Status;
  pid: number;
  startedAt: string;
  /** Hash of the runtime config the container runs from, to tell an init replaced behind kslice's back. */
  specHash: string | undefined;
  usage: Usage | undefined;
  /** Addresses held on the host, by network. */
  addresses: Map<string, string>;
  /** Host uid of the container's root, if it is user-namespaced. */
  uidBase: number | undefined;
  /** Attachments and ports of a running container that the kernel does not show as declared. */
  net: NetDrift | undefined;
  /** Security facets of the running init that differ from the declaration (capabilities, seccomp, …). */
  security: string[];
  /** Declared sysctls the init's namespaces hold otherwise: key → the kernel's value ("" unreadable). */
  sysctls: Map<string, string>;
  /** Its /proc views are bound to an lxcfs that died (proc.ts): a restart binds them anew. */
  procViewsStale?: boolean;
}
