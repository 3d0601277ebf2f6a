import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Connection } from "../../schema/connection";
import { chooseRuntime, parseFacts, readHostFacts, factsScript, type HostFacts, type RuntimeName } from "../../provider/kernel/host-facts";
import { openTransport } from "../../provider/transport/open";
import { shellQuote as q, type Transport } from "../../provider/transport/transport";
import { execFileSync } from "node:child_process";

/**
 * The host a suite runs against: this machine (`localHost()`) or a lab VM over SSH (`remoteHost()`).
 * Tests read the host's facts from here instead of assuming this machine's (cgroup v1 hybrid, runc,
 * /dev/vda), and reach its files and processes through the provider's own transport.
 */
export interface HostUnderTest {
  /** "local" or the SSH target, for messages. */
  name: string;
  connection: Connection;
  facts: HostFacts;
  t: Transport;
  /** cgroup v2 only (unified), or v1 controllers (legacy, hybrid). */
  v2: boolean;
  /** The runtime kslice's `auto` picks here. */
  runtime: RuntimeName;
  /**
   * Path of a cgroup setting of the node `<prefix>/<node>`, named by its v2 file: on v1 hosts the
   * v1 file that holds it in its controller's tree (memory.max → memory/…/memory.limit_in_bytes).
   */
  cgroupFile(prefix: string, node: string, v2File: string): string;
  /** Every cgroup.procs file a process must join to be in the node (one on v2, one per controller on v1). */
  procsFiles(prefix: string, node: string): string[];
  read(path: string): Promise<string>;
  /** Writes a kernel file (one write, no truncate) or replaces a regular file's content. */
  write(path: string, data: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Runs a shell script on the host; never rejects for an exit code. */
  sh(script: string): Promise<{ code: number; out: string }>;
  /** The runtime's CLI with kslice's state root for a prefix (rejects on failure). */
  runtimeCli(prefix: string, ...args: string[]): Promise<string>;
  /** Starts `command` inside the node, detached; resolves with its pid. */
  startIn(prefix: string, node: string, command: string): Promise<number>;
  /** Runs `command` inside the node to its end; resolves with its exit code (137 for SIGKILL). */
  runIn(prefix: string, node: string, command: string): Promise<number>;
  alive(pid: number): Promise<boolean>;
  /** Lists what scripts/leaks.sh finds for a prefix on this host. */
  leaks(prefix: string): Promise<string[]>;
}

/** v2 file → [v1 controller, v1 file], for the settings whose file has another name on v1. */
const v1Names: Record<string, [string, string]> = {
  "memory.max": ["memory", "memory.limit_in_bytes"],
  "memory.low": ["memory", "memory.soft_limit_in_bytes"],
  "memory.swap.max": ["memory", "memory.memsw.limit_in_bytes"],
  "memory.current": ["memory", "memory.usage_in_bytes"],
  "cpu.weight": ["cpu", "cpu.shares"],
  "cpu.max": ["cpu", "cpu.cfs_quota_us"],
  "io.weight": ["blkio", "blkio.weight"],
  // a process joins every v1 hierarchy; the pids one stands for them when one file is asked for
  "cgroup.procs": ["pids", "cgroup.procs"],
};

export async function hostUnderTest(connection: Connection): Promise<HostUnderTest> {
  const t = openTransport(connection);
  const facts = await readHostFacts(t);
  const chosen = chooseRuntime(facts, "auto");
  if ("error" in chosen) throw new Error(`${t.target}: ${chosen.error}`);
  const v2 = facts.cgroupMode === "unified";
  const root = facts.cgroupV2Mount ?? "/sys/fs/cgroup";
  const v1Mount = (controller: string) => {
    const m = facts.cgroupV1Mounts[controller];
    if (!m) throw new Error(`${t.target}: no cgroup v1 hierarchy for ${controller}`);
    return m;
  };
  const sh = async (script: string) => {
    const r = await t.run(["sh", "-c", script], { allowFailure: true, timeoutMs: 120_000 });
    return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
  };
  const procsFiles = (prefix: string, node: string) =>
    v2 ? [`${root}/${prefix}/${node}/cgroup.procs`] : ["memory", "pids", "cpu"].map((c) => `${v1Mount(c)}/${prefix}/${node}/cgroup.procs`);
  const joinNode = (prefix: string, node: string) =>
    procsFiles(prefix, node)
      .map((f) => `echo $$ > ${q(f)}`)
      .join(" && ");
  const leaksScript = readFileSync(join(__dirname, "..", "..", "scripts", "leaks.sh"), "utf8");
  return {
    name: t.target,
    connection,
    facts,
    t,
    v2,
    runtime: chosen.runtime.name,
    cgroupFile(prefix, node, v2File) {
      if (v2) return `${root}/${prefix}/${node}/${v2File}`;
      const [controller, file] = v1Names[v2File] ?? [v2File.split(".")[0]!, v2File];
      return `${v1Mount(controller)}/${prefix}/${node}/${file}`;
    },
    procsFiles,
    read: async (path) => (await t.readFile(path)).trim(),
    write: async (path, data) => {
      if (/^\/(sys|proc)\//.test(path)) return t.writeFile(path, data);
      await t.run(["sh", "-c", `cat > ${q(path)}`], { input: data });
    },
    exists: async (path) => (await sh(`test -e ${q(path)}`)).code === 0,
    sh,
    async runtimeCli(prefix, ...args) {
      return (await t.run([chosen.runtime.path, "--root", `/run/${prefix}/runtime`, ...args])).stdout;
    },
    async startIn(prefix, node, command) {
      // $! is the inner shell, which joins the node and then becomes the command (exec: same pid)
      // the caller sees it inside the node: wait (bounded) until its pid is in the last procs file
      const last = q(procsFiles(prefix, node).at(-1)!);
      const r = await t.run([
        "sh",
        "-c",
        `sh -c ${q(`${joinNode(prefix, node)} && exec ${command}`)} </dev/null >/dev/null 2>&1 & p=$!; i=0; until grep -qx "$p" ${last} || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done; echo $p`,
      ]);
      return Number(r.stdout.trim());
    },
    async runIn(prefix, node, command) {
      return (await sh(`sh -c ${q(`${joinNode(prefix, node)} && exec ${command}`)} </dev/null >/dev/null 2>&1; echo $?`)).out
        .trim()
        .split("\n")
        .map(Number)
        .pop()!;
    },
    async alive(pid) {
      // a zombie (dead, not yet reaped) is not alive
      const r = await sh(`s=$(cat /proc/${pid}/stat 2>/dev/null) || exit 1; s=\${s##*) }; [ "\${s%% *}" != Z ]`);
      return r.code === 0;
    },
    async leaks(prefix) {
      const r = await t.run(["bash", "-s", prefix], { input: leaksScript, allowFailure: true });
      return r.stdout.split("\n").filter(Boolean);
    },
  };
}

/** This machine, through the local transport. */
export function localHost(): Promise<HostUnderTest> {
  return hostUnderTest({ type: "local" } as Connection);
}

// Synchronous facts of this machine, for tests that read its files directly at module load.
let localFacts: HostFacts | undefined;
export function localFactsSync(): HostFacts {
  localFacts ??= parseFacts(execFileSync("sh", ["-c", factsScript()], { encoding: "utf8" }));
  return localFacts;
}

/** The runtime kslice picks on this machine (runc on v1 and hybrid hosts, crun on v2 ones where present). */
export function localRuntime(): RuntimeName {
  const chosen = chooseRuntime(localFactsSync(), "auto");
  if ("error" in chosen) throw new Error(chosen.error);
  return chosen.runtime.name;
}

/** Path of a cgroup setting of `<prefix>/<node>` (node may be "") on this machine, named by its v2 file (see HostUnderTest.cgroupFile). */
export function localCgroupFile(prefix: string, node: string, v2File: string): string {
  const f = localFactsSync();
  const path = (...parts: string[]) => parts.filter(Boolean).join("/");
  if (f.cgroupMode === "unified") return path(f.cgroupV2Mount ?? "/sys/fs/cgroup", prefix, node, v2File);
  const [controller, file] = v1Names[v2File] ?? [v2File.split(".")[0]!, v2File];
  const mount = f.cgroupV1Mounts[controller];
  if (!mount) throw new Error(`no cgroup v1 hierarchy for ${controller} on this machine`);
  return path(mount, prefix, node, file);
}

/** Is this machine cgroup v2 only? */
export const localV2 = (): boolean => localFactsSync().cgroupMode === "unified";

/** A real whole block device of this machine ("/dev/vda", "/dev/sda", …) from /sys/block, or undefined. */
export function localBlockDevice(): string | undefined {
  const name = readdirSync("/sys/block").find((d) => !/^(loop|ram|zram|dm-|md|sr|nbd)/.test(d));
  return name ? `/dev/${name}` : undefined;
}
