import { sameSysctl, sysctlPath } from "../../../schema/sysctl";
import { shellQuote as q, type Transport } from "../../transport/transport";

/**
 * A container's sysctls, read and written in its namespaces. The kernel resolves /proc/sys/net and
 * the IPC and UTS entries by the namespaces of the process that opens them, so the host's own
 * /proc (writable, unlike the container's) serves once nsenter has joined the init's network, IPC
 * and UTS namespaces; no user namespace is entered: the host's root owns them all.
 */
const enter = (pid: number) => `nsenter --target ${Math.trunc(pid)} --net --ipc --uts`;

/**
 * `<path>:<value>` per readable key, by one grep: /proc/sys files answer a read at an offset other
 * than 0 with nothing, so the shell's byte-at-a-time `read` cannot read them.
 */
export function readSysctlsScript(pid: number, keys: string[]): string {
  return `${enter(pid)} grep -H '' ${keys.map((k) => q(sysctlPath(k))).join(" ")}; true`;
}

/** Writes each value, naming the key and the kernel's refusal when one fails. */
export function writeSysctlsScript(pid: number, values: Record<string, string>): string {
  const body = Object.entries(values)
    .map(
      ([k, v]) =>
        `err=$( (printf '%s' ${q(v)} > ${q(sysctlPath(k))}) 2>&1 ) || { echo ${q(`sysctls.${k}: writing ${JSON.stringify(v)} in the container's namespace failed:`)} "\${err##*: }" >&2; exit 1; }`,
    )
    .join("\n");
  return `${enter(pid)} sh -c ${q(body)}`;
}

/** The declared keys whose value in the container differs from the declaration: key → the kernel's value ("" when unreadable). */
export function parseSysctls(out: string, declared: Record<string, string>): Map<string, string> {
  const seen = new Map<string, string>();
  for (const line of out.split("\n")) {
    const i = line.indexOf(":");
    if (line.startsWith("/proc/sys/") && i > 0)
      seen.set(
        line.slice(10, i).replace(/\//g, "."),
        line
          .slice(i + 1)
          .trim()
          .split(/\s+/)
          .join(" "),
      );
  }
  const drift = new Map<string, string>();
  for (const [k, v] of Object.entries(declared)) {
    const now = seen.get(k);
    if (now === undefined || !sameSysctl(now, v)) drift.set(k, now ?? "");
  }
  return drift;
}

/** What of the declared sysctls the running init's namespaces hold otherwise (one command). */
export async function sysctlDrift(t: Transport, pid: number, declared: Record<string, string>): Promise<Map<string, string>> {
  const keys = Object.keys(declared);
  if (!keys.length) return new Map();
  return parseSysctls((await t.run(["sh", "-c", readSysctlsScript(pid, keys)])).stdout, declared);
}

/** Writes the declared sysctls into the running init's namespaces (one command). */
export async function writeSysctls(t: Transport, pid: number, values: Record<string, string>): Promise<void> {
  if (Object.keys(values).length) await t.run(["sh", "-c", writeSysctlsScript(pid, values)]);
}
