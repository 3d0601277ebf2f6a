import type { HostLayout } from "../container/layout";
import { hostLayout } from "../container/layout";
import { shellQuote as q } from "../shell";
import type { Transport } from "../../transport/transport";
import { ensureNetworkScript, probeNetworkScript, removeNetworkScript, type NetworkSpec } from "./bridge";
import { nftTable } from "./names";
import { nftLock } from "./nft";

const toolsScript = `for t in ip nft nsenter tc flock; do command -v $t >/dev/null || echo "missing $t"; done`;
const routesScript = `ip -o -4 route show table main 2>/dev/null | sed 's/^/route /'`;
/**
 * Every other prefix's network records ("other <prefix> <json>"): subnets and bridges belong to
 * the machine, whatever prefix declared them.
 */
const otherPrefixesScript = (prefix: string) =>
  `for f in /var/lib/*/networks/*/network.json; do [ -f "$f" ] || continue; x=\${f%/networks/*}; x=\${x##*/}; [ "$x" = ${q(prefix)} ] || printf 'other %s %s\\n' "$x" "$(tr -d '\\n' < "$f")"; done`;

/**
 * The networks of one prefix on one host: what admission reads, the probe of the kernel's view of
 * each network, and the operations that make and remove one (each one command).
 */
export class NetworkHost {
  readonly layout: HostLayout;

  constructor(
    private readonly t: Pick<Transport, "run" | "readFiles" | "target">,
    readonly prefix: string,
  ) {
    this.layout = hostLayout(prefix);
  }

  /**
   * What admission needs for one network, in its fresh form: `missing <tool>`, `alias <bridge's
   * alias or ->`, `record <file>:<json>` per network of this prefix, `route …`, `other <prefix> <json>`.
   */
  async admissionLines(bridge: string): Promise<string[]> {
    const sys = q(`/sys/class/net/${bridge}`);
    const r = await this.t.run([
      "sh",
      "-c",
      [
        toolsScript,
        `if [ -e ${sys} ]; then echo "alias $(cat ${sys}/ifalias)"; else echo "alias -"; fi`,
        `grep -H . ${q(this.layout.networks)}/*/network.json 2>/dev/null | sed 's/^/record /'`,
        routesScript,
        otherPrefixesScript(this.prefix),
      ].join("\n"),
    ]);
    return r.stdout.split("\n");
  }

  /** The host's side of admission shared by every network's check: tools, `iface <name> <alias>`, routes, other prefixes' records. */
  async hostLines(): Promise<string> {
    const ifaces = `for d in /sys/class/net/*; do [ -e "$d/ifindex" ] || continue; a=; read -r a < "$d/ifalias" 2>/dev/null; echo "iface \${d##*/} $a"; done`;
    return (await this.t.run(["sh", "-c", [toolsScript, ifaces, routesScript, otherPrefixesScript(this.prefix)].join("\n")])).stdout;
  }

  /** The probe of one network (parseNetworkProbe reads it). */
  async probe(spec: NetworkSpec): Promise<string> {
    return (await this.t.run(["sh", "-c", probeNetworkScript(this.layout, spec, nftTable(this.prefix))])).stdout;
  }

  /** The probes of many networks: name → probe text, 50 networks a command. */
  async probeMany(specs: NetworkSpec[]): Promise<Map<string, string>> {
    const table = nftTable(this.prefix);
    // about 1 KB of script per network: 50 a command keeps it well under the 128 KiB an argument may hold
    const chunks = Array.from({ length: Math.ceil(specs.length / 50) }, (_, i) => specs.slice(i * 50, i * 50 + 50));
    const outs = await Promise.all(
      chunks.map(async (chunk) => {
        const script = chunk.map((n) => `echo ${q(`@@network ${n.name}`)}\n${probeNetworkScript(this.layout, n, table)}`).join("\n");
        return (await this.t.run(["sh", "-c", script])).stdout;
      }),
    );
    const parts = outs
      .join("\n")
      .split(/^@@network /m)
      .slice(1);
    return new Map(parts.map((p) => [p.slice(0, p.indexOf("\n")), p.slice(p.indexOf("\n") + 1)]));
  }

  /** A network's record (network.json) as it is on the host, undefined when there is none. */
  async record(name: string): Promise<string | undefined> {
    const [record] = await this.t.readFiles([`${this.layout.network(name)}/network.json`]);
    return record;
  }

  /** Whether the prefix's host state directory exists yet (a create that makes it also takes it back on failure). */
  async stateDirExists(): Promise<boolean> {
    return (await this.t.run(["test", "-d", this.layout.stateDir], { allowFailure: true })).exitCode === 0;
  }

  /** Makes the network or repairs it (idempotent, one script); throws naming the network with the script's stderr. */
  async ensure(spec: NetworkSpec): Promise<void> {
    const r = await this.t.run(["sh", "-c", ensureNetworkScript(this.prefix, this.layout, spec)], { allowFailure: true });
    if (r.exitCode !== 0) throw new Error(`${this.t.target}: network ${spec.name}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }

  /** Removes the network (bridge, rules, record); `bestEffort` for an undo, which must not hide the first error. */
  async remove(spec: NetworkSpec, options: { bestEffort?: boolean } = {}): Promise<void> {
    await this.t.run(["sh", "-c", removeNetworkScript(this.prefix, this.layout, spec)], { allowFailure: options.bestEffort ?? false });
  }

  /** Takes back the prefix's directories that a failed first create made (only those left empty). */
  async removeEmptyPrefixDirs(): Promise<void> {
    const d = this.layout;
    await this.t.run(["sh", "-c", `rm -f ${q(nftLock(d.runDir))}; rmdir ${q(d.networks)} ${q(d.stateDir)} ${q(d.runDir)} 2>/dev/null; true`]);
  }

  /** Containers that still hold an address on the network. */
  async attached(name: string): Promise<string[]> {
    const r = await this.t.run(["sh", "-c", `cat ${q(`${this.layout.network(name)}/addresses`)}/* 2>/dev/null | sort -u; true`]);
    return r.stdout.split("\n").filter(Boolean);
  }
}

/** The records (network.json) of the named networks of a prefix; a missing one is undefined. One read. */
export async function readNetworkRecords(t: Pick<Transport, "readFiles">, layout: HostLayout, names: string[]): Promise<Map<string, NetworkSpec | undefined>> {
  const files = await t.readFiles(names.map((n) => `${layout.network(n)}/network.json`));
  return new Map(names.map((n, i) => [n, files[i] === undefined ? undefined : (JSON.parse(files[i]!) as NetworkSpec)]));
}
