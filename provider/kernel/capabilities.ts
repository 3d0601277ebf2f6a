import type { Transport } from "../transport/transport";

/** Capability names by number, as linux/capability.h defines them (0 … 40 in Linux 5.9 and later). */
export const capabilityNames = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

// The kernel's capabilities do not change while it runs: read once per host per process.
const known = new WeakMap<Transport, Promise<string[]>>();

/**
 * The capabilities the host's kernel knows: the names numbered 0 … cap_last_cap. A name the
 * kernel does not know makes runc only warn in the container's log, so check refuses it instead.
 */
export function kernelCapabilities(t: Transport): Promise<string[]> {
  let caps = known.get(t);
  if (!caps) {
    caps = t.readFiles(["/proc/sys/kernel/cap_last_cap"]).then(([last]) => {
      const n = Number(last?.trim());
      return capabilityNames.slice(0, Number.isInteger(n) ? n + 1 : capabilityNames.length);
    });
    known.set(t, caps);
    caps.catch(() => known.delete(t));
  }
  return caps;
}
