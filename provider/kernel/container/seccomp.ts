import profile from "./seccomp-default.json";

/**
 * The seccomp filter is an allow list kept as data: seccomp-default.json is Docker's default
 * profile (github.com/moby/profiles/seccomp v0.2.3, as vendored by moby/moby b985e2313a) with
 * kslice's changes marked by a "comment" (device nodes), so `diff` against moby's file shows all of
 * them. Everything not allowed gets EPERM; clone3 gets ENOSYS so that libc falls back to clone,
 * whose namespace flags the filter can see. This file only resolves the profile for one container
 * (its capabilities and the host's architecture), as moby's setupSeccomp does.
 */

export type SeccompMode = "default" | "unconfined";

interface Rule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
  comment?: string;
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[] };
}

interface Profile {
  defaultAction: string;
  defaultErrnoRet: number;
  archMap: { architecture: string; subArchitectures: string[] | null }[];
  syscalls: Rule[];
}

/** The OCI `linux.seccomp` section. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: Rule["args"] }[];
}

/** Go's GOARCH names, as the profile's "arches" use them, to libseccomp's. */
const seccompArch: Record<string, string> = {
  amd64: "SCMP_ARCH_X86_64",
  arm64: "SCMP_ARCH_AARCH64",
  s390x: "SCMP_ARCH_S390X",
  riscv64: "SCMP_ARCH_RISCV64",
};

/**
 * The filter for a container with these (final) capabilities, or none when unconfined.
 * A rule is kept when every capability it `includes` is held and none it `excludes` is, and its
 * arches match. `minKernel` rules are kept: kslice's hosts run kernels far above the 4.8 they ask.
 * @param arch the host's architecture in Go's names; kslice's hosts are x86_64.
 */
export function seccompProfile(caps: readonly string[], mode: SeccompMode = "default", arch = "amd64"): OciSeccomp | undefined {
  if (mode === "unconfined") return undefined;
  const p = profile as Profile;
  const held = new Set(caps);
  const native = seccompArch[arch];
  const entry = p.archMap.find((m) => m.architecture === native);
  if (!entry) throw new Error(`seccomp: no architecture ${arch} in the default profile`);
  const keep = (r: Rule) =>
    (r.includes?.caps ?? []).every((c) => held.has(c)) &&
    !(r.excludes?.caps ?? []).some((c) => held.has(c)) &&
    (r.includes?.arches === undefined || r.includes.arches.includes(arch)) &&
    !(r.excludes?.arches ?? []).includes(arch);
  return {
    defaultAction: p.defaultAction,
    defaultErrnoRet: p.defaultErrnoRet,
    architectures: [entry.architecture, ...(entry.subArchitectures ?? [])],
    syscalls: p.syscalls.filter(keep).map(({ names, action, errnoRet, args }) => ({
      names,
      action,
      ...(errnoRet === undefined ? {} : { errnoRet }),
      ...(args === undefined ? {} : { args }),
    })),
  };
}
