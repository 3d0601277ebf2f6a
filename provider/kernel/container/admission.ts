import { shellQuote as q, type CommandResult, type Transport } from "../../transport/transport";
import type { ClaimsSnapshot } from "./snapshot";
import { parsePortClaims, portClaimsReadScript, type PortClaim } from "../network/port-claims";

/** A path a declaration names, and what must be there: anything, or an OCI image layout. */
export interface PathTest {
  path: string;
  kind: "exists" | "ociLayout";
}

/** One line per test, "1" or "0": whether the host has what each names (check: rootfs, bind sources). */
export function pathTestsScript(tests: PathTest[]): string {
  return tests.map((x) => `${x.kind === "ociLayout" ? `[ -f ${q(`${x.path}/oci-layout`)} ]` : `[ -e ${q(x.path)} ]`} && echo 1 || echo 0`).join("; ");
}

export const parsePathTests = (out: string): boolean[] =>
  out
    .trim()
    .split("\n")
    .map((l) => l === "1");

/** Whether the host has what each test names, in the tests' order (one command). */
export async function readPathTests(t: Pick<Transport, "run">, tests: PathTest[]): Promise<boolean[]> {
  return parsePathTests((await t.run(["sh", "-c", pathTestsScript(tests)])).stdout);
}

/** For each source, the first mount point below it (resolved), or nothing: sections ended by "@@". */
export function submountsScript(sources: string[]): string {
  return sources
    .map((s) => `s=$(realpath -e ${q(s)} 2>/dev/null) && awk -v s="\${s%/}/" 'index($5, s) == 1 { print $5; exit }' /proc/self/mountinfo; echo @@`)
    .join("; ");
}

export const parseSubmounts = (out: string): (string | undefined)[] => out.split("@@\n").map((x) => x.trim() || undefined);

/** For each source, the first mount point below it, or undefined (one command). */
export async function readSubmounts(t: Pick<Transport, "run">, sources: string[]): Promise<(string | undefined)[]> {
  return parseSubmounts((await t.run(["sh", "-c", submountsScript(sources)])).stdout);
}

/**
 * Every prefix's port claims (portClaimsReadScript: host ports belong to the machine), then "@@",
 * then the host's listening sockets ("tcp <addr:port>").
 */
export function portsReadScript(): string {
  return `${portClaimsReadScript()}\nss -Hlnt 2>/dev/null | awk '{print "tcp", $4}'; ss -Hlnu 2>/dev/null | awk '{print "udp", $4}'`;
}

/** A socket listening on the host: protocol, port and local address ("0.0.0.0" for any). */
export interface ListeningSocket {
  proto: string;
  port: number;
  addr: string;
}

/** Every prefix's port claims and the host's listening sockets. */
export interface PortsInUse {
  claims: PortClaim[];
  sockets: ListeningSocket[];
}

/** What portsReadScript printed, parsed. */
export function parsePortsRead(out: string): PortsInUse {
  const [claims = "", listening = ""] = out.split("@@\n");
  const sockets = listening
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [proto, local] = l.split(" ");
      const m = /^(.*):(\d+)$/.exec(local ?? "");
      const addr = (m?.[1] ?? "").replace(/^\[|\]$/g, "").replace(/%.*$/, "");
      return { proto: proto!, port: Number(m?.[2]), addr: addr === "*" || addr === "::" ? "0.0.0.0" : addr };
    });
  return { claims: parsePortClaims(claims), sockets };
}

/** Every prefix's port claims and the host's listening sockets (one command). */
export async function readPortsInUse(t: Pick<Transport, "run">): Promise<PortsInUse> {
  return parsePortsRead((await t.run(["sh", "-c", portsReadScript()])).stdout);
}

// Read-only commands of checks (paths on the host, submounts of bind sources), answered once per
// host snapshot: the containers of a program mostly share their rootfs and bind sources, so a
// preview of N of them runs each distinct test once. Dropped with the snapshot (a change made).
const answers = new WeakMap<object, Map<string, Promise<CommandResult>>>();

/** A transport whose read-only commands are shared with every check of the same snapshot. */
export function sharedTests(t: Pick<Transport, "run" | "target">, snap: ClaimsSnapshot): Pick<Transport, "run" | "target"> {
  return {
    target: t.target,
    run(argv) {
      const key = snap.source ?? snap;
      let byCommand = answers.get(key);
      if (!byCommand) answers.set(key, (byCommand = new Map()));
      const command = JSON.stringify(argv);
      let r = byCommand.get(command);
      if (!r) {
        r = t.run(argv);
        byCommand.set(command, r);
        r.catch(() => byCommand.delete(command));
      }
      return r;
    },
  };
}
