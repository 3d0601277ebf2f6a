import { shellQuote as q } from "../../transport/transport";
import { portClaimsReadScript } from "../network/port-claims";

/** A path a declaration names, and what must be there: anything, or an OCI image layout. */
export interface PathTest {
  path: string;
  kind: "exists" | "ociLayout";
}

/** One line per test, "1" or "0": whether the host has what each names (check: rootfs, bind sources). */
export function pathTestsScript(tests: PathTest[]): string {
  return tests.map((x) => `${x.kind === "ociLayout" ? `[ -f ${q(`${x.path}/oci-layout`)} ]` : `[ -e ${q(x.path)} ]`} && echo 1 || echo 0`).join("; ");
}

export const parsePathTests = (out: string): boolean[] => out.trim().split("\n").map((l) => l === "1");

/** For each source, the first mount point below it (resolved), or nothing: sections ended by "@@". */
export function submountsScript(sources: string[]): string {
  return sources.map((s) => `s=$(realpath -e ${q(s)} 2>/dev/null) && awk -v s="\${s%/}/" 'index($5, s) == 1 { print $5; exit }' /proc/self/mountinfo; echo @@`).join("; ");
}

export const parseSubmounts = (out: string): (string | undefined)[] => out.split("@@\n").map((x) => x.trim() || undefined);

/**
 * Every prefix's port claims (portClaimsReadScript: host ports belong to the machine), then "@@",
 * then the host's listening sockets ("tcp <addr:port>").
 */
export function portsReadScript(): string {
  return `${portClaimsReadScript()}\nss -Hlnt 2>/dev/null | awk '{print "tcp", $4}'; ss -Hlnu 2>/dev/null | awk '{print "udp", $4}'`;
}
