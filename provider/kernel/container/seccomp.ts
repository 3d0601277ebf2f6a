/**
 * The default seccomp filter: everything is allowed except the syscalls Docker's default profile
 * keeps from unprivileged containers (kernel modules, mounts, kexec, reboot, clock and keyring
 * changes, tracing other processes' memory, bpf, namespaces escapes). A deny list rather than
 * Docker's 300-entry allow list: the same protection for these calls, and new harmless syscalls
 * keep working. EPERM, not KILL, so programs get an error they can report.
 */
export const deniedSyscalls = [
  "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
  "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
  "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
  "mbind", "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
  "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "process_vm_readv",
  "process_vm_writev", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key",
  "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "syslog", "umount",
  "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
];

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/**
 * runc allows mknod of any device in the devices cgroup (as Docker does; opening is what it
 * denies), so device nodes are refused here: mknod/mknodat with a char or block type get EPERM.
 * FIFOs and sockets stay allowed.
 */
const deviceNodeRules = [
  ["mknod", 1],
  ["mknodat", 2],
].flatMap(([name, index]) =>
  [S_IFCHR, S_IFBLK].map((type) => ({
    names: [name as string],
    action: "SCMP_ACT_ERRNO",
    errnoRet: 1,
    args: [{ index: index as number, value: S_IFMT, valueTwo: type, op: "SCMP_CMP_MASKED_EQ" }],
  })),
);

export function defaultSeccomp() {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
    syscalls: [{ names: deniedSyscalls, action: "SCMP_ACT_ERRNO", errnoRet: 1 }, ...deviceNodeRules],
  };
}
