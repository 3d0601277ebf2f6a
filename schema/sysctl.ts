import { z } from "zod";
import { show } from "./issues";

/**
 * Sysctls the kernel keeps per namespace, so a container may set its own (runc's
 * libcontainer/configs/validate and Docker's --sysctl accept the same): IPC (kernel.shm*,
 * kernel.msg*, kernel.sem, fs.mqueue.*), UTS (kernel.domainname; the host name is `hostname`),
 * network (net.*: every kslice container has a network namespace of its own).
 * Anything else would change the host for every tenant.
 */
const ipc = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);

/** Which of the container's namespaces holds a sysctl, or undefined when it is the host's. */
export function sysctlNamespace(key: string): "ipc" | "uts" | "net" | undefined {
  if (ipc.has(key) || key.startsWith("fs.mqueue.")) return "ipc";
  if (key === "kernel.domainname") return "uts";
  if (key.startsWith("net.")) return "net";
  return undefined;
}

const expected = "expected kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.domainname or net.*";

/** Values as sysctl(8) takes them: one line, not empty ("250 32000 32 128" for kernel.sem). */
const value = z.string().regex(/^[^\n\r\0]*\S[^\n\r\0]*$/, { error: (issue) => `got ${show(issue.input)}; expected a value on one line, like "1024"` });

export const sysctls = z.record(z.string(), value).superRefine((values, ctx) => {
  for (const key of Object.keys(values)) {
    const issue = (message: string) => ctx.addIssue({ code: "custom", path: [key], message, input: key });
    if (!/^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$/.test(key)) issue(`got ${show(key)}; expected a sysctl name with dots, like "net.core.somaxconn"`);
    else if (key === "kernel.hostname") issue(`got ${show(key)}; set the container's name with the hostname input instead`);
    else if (!sysctlNamespace(key)) issue(`got ${show(key)}, which is not namespaced: it would change the host; ${expected}`);
  }
});

/** A sysctl's file under /proc/sys. */
export const sysctlPath = (key: string) => `/proc/sys/${key.replace(/\./g, "/")}`;

/** Values as the kernel prints them (kernel.sem with tabs) compare equal to the declared ones. */
export const sameSysctl = (a: string, b: string) => a.trim().split(/\s+/).join(" ") === b.trim().split(/\s+/).join(" ");
