import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultCapabilities, ociSpec } from "../../../../provider/kernel/container/oci-spec";
import { seccompProfile, type OciSeccomp } from "../../../../provider/kernel/container/seccomp";
import { containerArgs } from "../../../../schema/container";
import { parseInput } from "../../../../schema/issues";

const S_IFMT = 0o170000;
const types = { regular: 0o100000, fifo: 0o010000, socket: 0o140000, char: 0o020000, block: 0o060000, none: 0 };
const NAMESPACE_FLAGS = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};

type Rules = OciSeccomp["syscalls"];
const allowRules = (rules: Rules, name: string) => rules.filter((r) => r.action === "SCMP_ACT_ALLOW" && r.names.includes(name));
/** Names allowed whatever their arguments. */
const unconditional = (p: OciSeccomp) => [...new Set(p.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args).flatMap((r) => r.names))].sort();
/** Whether a call with these argument values gets through the filter (one MASKED_EQ/EQ/NE/LT/GT test per rule). */
const allows = (p: OciSeccomp, name: string, argv: number[]) =>
  allowRules(p.syscalls, name).some((r) =>
    (r.args ?? []).every((a) => {
      const v = argv[a.index]!;
      switch (a.op) {
        case "SCMP_CMP_MASKED_EQ":
          return Number(BigInt(v) & BigInt(a.value)) === (a.valueTwo ?? 0);
        case "SCMP_CMP_EQ":
          return v === a.value;
        case "SCMP_CMP_NE":
          return v !== a.value;
        case "SCMP_CMP_LT":
          return v < a.value;
        case "SCMP_CMP_GT":
          return v > a.value;
        default:
          throw new Error(`op ${a.op} not modelled`);
      }
    }),
  );

const defaults = seccompProfile(defaultCapabilities)!;
const withSysAdmin = seccompProfile([...defaultCapabilities, "CAP_SYS_ADMIN"])!;

/** Classes the issue names: none may be allowed in a default container, in any form. */
const refusedClasses = [
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "open_by_handle_at",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "create_module",
  "mount",
  "umount",
  "umount2",
  "fsopen",
  "fsmount",
  "fsconfig",
  "fspick",
  "open_tree",
  "move_mount",
  "mount_setattr",
  "pivot_root",
  "unshare",
  "setns",
  "clone3",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "reboot",
  "swapon",
  "swapoff",
  "syslog",
  "acct",
  "settimeofday",
  "clock_settime",
  "iopl",
  "ioperm",
  "quotactl",
  "lookup_dcookie",
  "vhangup",
  "sethostname",
  "setdomainname",
  "fanotify_init",
];

describe("the default seccomp profile (Docker's, as data)", () => {
  it("refuses everything not listed with EPERM, for x86_64 and its 32-bit ABIs", () => {
    expect(defaults.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(defaults.defaultErrnoRet).toBe(1);
    expect(defaults.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  });

  it("allows exactly these syscalls in a container with Docker's 14 capabilities", () => {
    // A change to seccomp-default.json shows here in review (update with `vitest -u`).
    expect(unconditional(defaults)).toMatchSnapshot();
    expect(defaults.syscalls.filter((r) => r.args || r.action !== "SCMP_ACT_ALLOW")).toMatchSnapshot();
  });

  it("refuses keyrings, bpf, perf, userfaultfd, handles, kexec, modules, mounts, namespaces and io_uring", () => {
    for (const name of refusedClasses) expect(allowRules(defaults.syscalls, name), name).toEqual([]);
  });

  it("allows clone only without namespace flags", () => {
    expect(allowRules(defaults.syscalls, "clone")).toEqual([
      { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }] },
    ]);
    const SIGCHLD = 17;
    const CLONE_THREAD_FLAGS = 0x3d0f00; // what pthread_create passes
    expect(allows(defaults, "clone", [SIGCHLD])).toBe(true);
    expect(allows(defaults, "clone", [CLONE_THREAD_FLAGS])).toBe(true);
    for (const [flag, bit] of Object.entries(NAMESPACE_FLAGS)) expect(allows(defaults, "clone", [SIGCHLD | bit]), flag).toBe(false);
  });

  it("answers clone3 with ENOSYS, so that libc falls back to clone", () => {
    expect(defaults.syscalls.filter((r) => r.names.includes("clone3"))).toEqual([{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }]);
  });

  it("allows mknod and mknodat of files, FIFOs and sockets, never of char or block devices", () => {
    for (const [name, index] of [
      ["mknod", 1],
      ["mknodat", 2],
    ] as const) {
      const argv = (type: number) => Object.assign([0, 0, 0], { [index]: type | 0o600 });
      for (const ok of [types.none, types.regular, types.fifo, types.socket]) expect(allows(defaults, name, argv(ok)), `${name} ${ok.toString(8)}`).toBe(true);
      for (const bad of [types.char, types.block]) expect(allows(defaults, name, argv(bad)), `${name} ${bad.toString(8)}`).toBe(false);
      expect(allowRules(defaults.syscalls, name).every((r) => r.args?.[0]?.value === S_IFMT)).toBe(true);
    }
  });

  it("with CAP_SYS_ADMIN added, allows what moby allows for it, and nothing more", () => {
    const added = unconditional(withSysAdmin).filter((n) => !unconditional(defaults).includes(n));
    expect(added).toEqual([
      "bpf",
      "clone",
      "clone3",
      "fanotify_init",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "lookup_dcookie",
      "lsm_get_self_attr",
      "lsm_list_modules",
      "lsm_set_self_attr",
      "mount",
      "mount_setattr",
      "move_mount",
      "open_tree",
      "perf_event_open",
      "quotactl",
      "quotactl_fd",
      "setdomainname",
      "sethostname",
      "setns",
      "syslog",
      "umount",
      "umount2",
      "unshare",
    ]);
    // clone's flag rule and clone3's ENOSYS are moby's "excludes CAP_SYS_ADMIN" rules
    expect(withSysAdmin.syscalls.filter((r) => (r.names.includes("clone") && r.args) || (r.names.includes("clone3") && r.action !== "SCMP_ACT_ALLOW"))).toEqual(
      [],
    );
    for (const name of ["keyctl", "add_key", "userfaultfd", "io_uring_setup", "kexec_load", "init_module", "open_by_handle_at"])
      expect(allowRules(withSysAdmin.syscalls, name), name).toEqual([]);
  });

  it("follows the other capabilities moby ties syscalls to, added or dropped", () => {
    expect(allowRules(defaults.syscalls, "chroot")).toHaveLength(1); // CAP_SYS_CHROOT is a default
    expect(allowRules(seccompProfile(defaultCapabilities.filter((c) => c !== "CAP_SYS_CHROOT"))!.syscalls, "chroot")).toEqual([]);
    const ptrace = seccompProfile([...defaultCapabilities, "CAP_SYS_PTRACE"])!;
    expect(unconditional(ptrace)).toEqual(expect.arrayContaining(["kcmp", "pidfd_getfd", "process_madvise", "ptrace"]));
    expect(allowRules(seccompProfile([...defaultCapabilities, "CAP_DAC_READ_SEARCH"])!.syscalls, "open_by_handle_at")).toHaveLength(1);
  });

  it("keeps moby's file apart from kslice's changes: every change is marked with a kslice comment", () => {
    const data = JSON.parse(readFileSync(join(__dirname, "../../../../provider/kernel/container/seccomp-default.json"), "utf8")) as {
      syscalls: { names: string[]; comment?: string }[];
    };
    const kslice = data.syscalls.filter((r) => r.comment?.startsWith("kslice:"));
    expect([...new Set(kslice.flatMap((r) => r.names))]).toEqual(["mknod", "mknodat"]);
    expect(data.syscalls[0]!.names).not.toContain("mknod");
  });
});

describe("security.seccomp", () => {
  const host = { connection: { type: "local" } };
  const spec = (security: object) =>
    ociSpec(containerArgs.parse({ host, name: "web", command: ["true"], security }), {
      cgroupsPath: "/kslice/web",
      cgroupVersion: 1,
      nofileHard: 1024,
      etc: { resolvConf: "/r", hosts: "/h", hostname: "/n" },
    }) as { linux: { seccomp?: OciSeccomp } };

  it('is "default" unless told: the container gets the profile for its own capabilities', () => {
    expect(spec({}).linux.seccomp).toEqual(defaults);
    expect(spec({ capAdd: ["SYS_ADMIN"] }).linux.seccomp).toEqual(withSysAdmin);
  });

  it('"unconfined" leaves the seccomp section out', () => {
    expect(spec({ seccomp: "unconfined" }).linux).not.toHaveProperty("seccomp");
  });

  it("refuses another value at check, naming the input and the choices", () => {
    const r = parseInput(containerArgs, { host, name: "web", command: ["true"], security: { seccomp: "off" } });
    expect(r.ok ? [] : r.failures).toEqual([{ property: "security.seccomp", reason: 'got "off"; expected one of "default", "unconfined"' }]);
  });
});
