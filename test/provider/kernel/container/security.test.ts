import { describe, expect, it } from "vitest";
import { defaultCapabilities } from "../../../../provider/kernel/container/oci-spec";
import { capabilityNames } from "../../../../provider/kernel/capabilities";
import { expectedSecurity, parseSecurity, securityDrift } from "../../../../provider/kernel/container/security";

const mask = (names: string[]) =>
  names
    .reduce((m, n) => m | (1n << BigInt(capabilityNames.indexOf(n as (typeof capabilityNames)[number]))), 0n)
    .toString(16)
    .padStart(16, "0");
const status = (caps: string[], seccomp: number, nnp: number) =>
  `Name:\tsleep\nCapInh:\t0000000000000000\nCapPrm:\t${mask(caps)}\nCapEff:\t${mask(caps)}\nCapBnd:\t${mask(caps)}\nNoNewPrivs:\t${nnp}\nSeccomp:\t${seccomp}\n`;
const spec = (uid: number, userns: boolean, seccomp: boolean) => ({
  process: { user: { uid }, capabilities: { effective: defaultCapabilities, bounding: defaultCapabilities }, noNewPrivileges: true },
  linux: { ...(seccomp ? { seccomp: {} } : {}), ...(userns ? { uidMappings: [{ containerID: 0, hostID: 1048576, size: 65536 }] } : {}) },
});

describe("security state from /proc", () => {
  it("numbers capabilities as the kernel does", () => {
    expect(capabilityNames.indexOf("CAP_SYS_ADMIN")).toBe(21);
    expect(capabilityNames.indexOf("CAP_CHECKPOINT_RESTORE")).toBe(40);
    expect(parseSecurity("CapEff:\t0000000000200000\nCapBnd:\t0000000000200000\n", "0 0 4294967295")!.capEff).toEqual(["CAP_SYS_ADMIN"]);
  });

  it("finds nothing when the init runs as declared, outside and inside a user namespace", () => {
    expect(
      securityDrift(expectedSecurity(spec(0, false, true)), parseSecurity(status(defaultCapabilities, 2, 1), "         0          0 4294967295\n")!),
    ).toEqual([]);
    expect(securityDrift(expectedSecurity(spec(0, true, true)), parseSecurity(status(defaultCapabilities, 2, 1), "0 1048576 65536\n")!)).toEqual([]);
  });

  it("names each facet that differs", () => {
    const have = parseSecurity(status([...defaultCapabilities, "CAP_SYS_ADMIN"], 0, 0), "0 0 4294967295")!;
    expect(securityDrift(expectedSecurity(spec(0, true, true)), have)).toEqual(["capabilities", "seccomp", "no_new_privs", "uid_map"]);
  });

  it("compares only the bounding set for a non-root init (its execve clears the effective set)", () => {
    const have = parseSecurity(status(defaultCapabilities, 2, 1).replace(/CapEff:\t\w+/, "CapEff:\t0000000000000000"), "0 0 4294967295")!;
    expect(securityDrift(expectedSecurity(spec(1000, false, true)), have)).toEqual([]);
    expect(securityDrift(expectedSecurity(spec(0, false, true)), have)).toEqual(["capabilities"]);
  });

  it("reads a process that is gone as nothing", () => {
    expect(parseSecurity(undefined, undefined)).toBeUndefined();
  });
});
