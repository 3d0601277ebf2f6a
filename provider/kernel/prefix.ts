import type { CgroupDriver } from "./cgroup/driver";
import { removeBootUnitScript, stopSupervisorScript } from "./container/boot";
import { incompleteBundlesScript, parseIncompleteBundles } from "./container/bundle-state";
import { hostLayout, type HostLayout } from "./container/layout";
import { stopLxcfsScript } from "./container/lxcfs";
import { removeLogCgroupScript } from "./container/log-writer";
import { nftTable } from "./network/names";
import { drainingFile, hostRecordsScript, prefixUsersScript, removeRecordScript, stackFile } from "./owners";
import { shellQuote as q } from "./shell";
import { runTransaction, StepError } from "./transaction";
import type { Transport } from "../transport/transport";

/** Who uses a prefix on a host, as Host delete needs it (one read). */
export interface PrefixUsers {
  /** Stacks registered on the prefix (owners/). */
  stacks: string[];
  /** Owners recorded by the containers and networks still there ("-" when none is recorded). */
  owners: { kind: "container" | "network"; name: string; owner: string }[];
  /** Bundles a killed create left incomplete: name → cgroup path ("" when unknown). */
  incomplete: Map<string, string>;
}

/** What is still under a prefix, so that its setup cannot be removed. */
export class PrefixInUseError extends Error {
  constructor(
    readonly target: string,
    readonly prefix: string,
    readonly remaining: { containers: string[]; networks: string[]; cgroups: string[] },
  ) {
    const what = [
      ...(remaining.containers.length ? [`containers ${remaining.containers.join(", ")}`] : []),
      ...(remaining.networks.length ? [`networks ${remaining.networks.join(", ")}`] : []),
      ...(remaining.cgroups.length ? [`cgroups ${remaining.cgroups.map((c) => `${prefix}/${c}`).join(", ")}`] : []),
    ];
    super(`${target}: cannot remove kslice's setup under prefix "${prefix}": ${what.join("; ")} remain; delete the resources that manage them first`);
    this.name = "PrefixInUseError";
  }
}

const remainsStep = "remains";

/**
 * A prefix's setup on one host: the stacks registered on it and what Host delete removes (root
 * cgroups, runtime and host state, supervisor and boot unit, the nftables table).
 */
export class PrefixHost {
  readonly layout: HostLayout;

  constructor(
    private readonly t: Pick<Transport, "run" | "target">,
    readonly prefix: string,
    private readonly cgroups: Pick<CgroupDriver, "removeScript" | "invalidate">,
    private readonly cgroupMounts: string[],
  ) {
    this.layout = hostLayout(prefix);
  }

  /**
   * Registers a stack as a user of the prefix (one file per stack) and records whether its Host
   * declares the host draining (owners.ts, drainingFile): one command, on disk when it returns.
   */
  async registerStack(stack: string, owner: string, draining = false): Promise<void> {
    await this.t.run(["sh", "-c", hostRecordsScript(this.layout, stack, owner, draining)]);
  }

  /** Takes a stack's registration and draining record back (the prefix's setup stays for its other users). */
  async unregisterStack(stack: string): Promise<void> {
    const { stateDir } = this.layout;
    await this.t.run([
      "sh",
      "-c",
      `${removeRecordScript(drainingFile(this.layout, stack), stateDir)}\n${removeRecordScript(stackFile(this.layout, stack), `${stateDir}/owners`)}`,
    ]);
  }

  /** The prefix's users and its incomplete bundles, in one command. */
  async users(): Promise<PrefixUsers> {
    const out = (await this.t.run(["sh", "-c", `${prefixUsersScript(this.layout)}\necho @@\n${incompleteBundlesScript(this.layout)}`])).stdout;
    const at = out.lastIndexOf("@@\n");
    const lines = (at < 0 ? out : out.slice(0, at)).split("\n").filter(Boolean);
    const stacks = lines.filter((l) => l.startsWith("stack ")).map((l) => decodeURIComponent(l.slice(6)));
    const owners = lines
      .filter((l) => l.startsWith("container ") || l.startsWith("network "))
      .map((l) => {
        const [kind, name = "", owner = "-"] = l.split(" ");
        return { kind: kind as "container" | "network", name, owner };
      });
    return { stacks, owners, incomplete: parseIncompleteBundles(at < 0 ? "" : out.slice(at + 3)) };
  }

  /**
   * Removes the prefix's setup in one transaction, refusing (PrefixInUseError) while containers,
   * networks or cgroups remain under it. Returns the state directories that are mount points,
   * emptied and kept (rm cannot remove a mount point).
   */
  async remove(): Promise<{ keptMountPoints: string[] }> {
    const { layout, prefix } = this;
    const roots = this.cgroupMounts.map((m) => `${m}/${prefix}`);
    const list = (kind: string, dir: string) => `for e in ${q(dir)}/*; do [ -e "$e" ] && echo "${kind} \${e##*/}" >&2 && ks_left=1; done`;
    try {
      const out = await runTransaction(this.t, [
        {
          // what still uses the prefix; cgroups are looked at only when no container or network is left
          name: remainsStep,
          run: [
            "ks_left=",
            list("container", layout.containers),
            list("network", layout.networks),
            `if [ -z "$ks_left" ]; then for r in ${roots.map(q).join(" ") || "''"}; do for e in "$r"/*/; do [ -d "$e" ] || continue; e=\${e%/}; echo "cgroup \${e##*/}" >&2; ks_left=1; done; done; fi`,
            `[ -z "$ks_left" ] || exit 3`,
          ].join("\n"),
        },
        { name: "cgroups", run: this.cgroups.removeScript("") },
        // runtime state and templates go with the last container, and so do the supervisor, the boot unit and lxcfs (before /run/<prefix>, its mount point)
        {
          name: "supervisor",
          run: `${stopSupervisorScript(prefix)}\n${removeBootUnitScript(prefix)}\n${stopLxcfsScript(prefix, layout)}\n${removeLogCgroupScript(prefix)}\ntrue`,
        },
        {
          // a dir that is a mount point (a volume for /var/lib/<prefix>) is emptied and kept
          name: "state",
          output: true,
          run: [layout.runDir, layout.stateDir]
            .map(
              (d) =>
                `if mountpoint -q ${q(d)}; then find ${q(d)} -mindepth 1 -maxdepth 1 -exec rm -rf {} + || exit 1; echo ${q(d)}; else rm -rf ${q(d)} || exit 1; fi`,
            )
            .join("\n"),
        },
        { name: "nftables", run: `nft delete table ip ${nftTable(prefix)} 2>/dev/null; nft delete table bridge ${nftTable(prefix)} 2>/dev/null; true` },
      ]);
      return { keptMountPoints: out.split("\n").filter(Boolean) };
    } catch (e) {
      if (e instanceof StepError && e.step === remainsStep && e.exitCode === 3) {
        const named = (kind: string) =>
          [
            ...new Set(
              e.stderr
                .split("\n")
                .filter((l) => l.startsWith(`${kind} `))
                .map((l) => l.slice(kind.length + 1)),
            ),
          ].sort();
        throw new PrefixInUseError(this.t.target, prefix, { containers: named("container"), networks: named("network"), cgroups: named("cgroup") });
      }
      if (e instanceof StepError) throw new Error(`${this.t.target}: prefix "${prefix}": ${e.message}`, { cause: e });
      throw e;
    } finally {
      this.cgroups.invalidate();
    }
  }
}

/**
 * The prefixes kslice uses on a host (each has an owners/ directory under /var/lib), as one
 * bounded command: it also tells whether the host still answers.
 */
export async function listPrefixes(t: Pick<Transport, "run">, timeoutMs: number): Promise<string[]> {
  const script = `for d in /var/lib/*/owners; do [ -d "$d" ] || continue; p=\${d%/owners}; echo "\${p##*/}"; done`;
  return (await t.run(["sh", "-c", script], { timeoutMs })).stdout.split("\n").filter((p) => /^[a-z][a-z0-9-]{0,39}$/.test(p));
}
