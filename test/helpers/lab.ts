import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { startLab, sshRun, type Lab, type LabHost, type LabOptions } from "../lab/lab";
import type { SharedLab } from "../lab/pool";
import { testPrefix } from "./prefix";

export { sshRun, type Lab, type LabHost, type LabOptions } from "../lab/lab";

const repoRoot = join(__dirname, "..", "..");

/**
 * The lab VMs of a suite (Debian bookworm, cgroup v2 only, runc and crun, root over SSH). Call the
 * returned function inside tests to get the running lab.
 *
 *   const lab = useLab(1);
 *   it("…", async () => { const host = lab().hosts[0]!; await sshRun(host, "cat /sys/fs/cgroup/cgroup.controllers"); });
 *
 * By default the suite takes the tier's shared guests (test/lab/pool.ts), booted once for every
 * file; when the suite ends, every shared guest is leak-checked for this run's prefix and the suite
 * fails if anything of it is left. A suite that reboots, crashes or kills its guests, needs more of
 * them than are shared, or other QEMU settings, passes `own: true` (or such settings) and boots its
 * own before the suite and stops them after it.
 */
export function useLab(count = 1, opts: LabOptions = {}): () => Lab {
  const shared = inject("sharedLab");
  const canShare =
    shared &&
    !opts.own &&
    count <= shared.hosts.length &&
    opts.memoryMiB === undefined &&
    opts.cpus === undefined &&
    opts.accel === undefined &&
    (!opts.mirror || (shared.mirror?.host === opts.mirror.host && shared.mirror.port === opts.mirror.port));
  return canShare ? useSharedLab({ ...shared, hosts: shared.hosts.slice(0, count) }) : useOwnLab(count, opts);
}

/** The test file running now, relative to the repository (the boot log's `by`). */
function currentFile(): string {
  const path = expect.getState().testPath;
  return path ? relative(repoRoot, path) : "-";
}

function useOwnLab(count: number, opts: LabOptions): () => Lab {
  let lab: Lab | undefined;
  // Bounded: a cold image build (about 4 minutes here) plus up to three boots, with room to spare.
  beforeAll(async () => {
    lab = await startLab(count, { log: (s) => console.log(s), by: currentFile(), ...opts });
  }, 900_000);
  afterAll(async () => {
    await lab?.stop();
  }, 60_000);
  return () => {
    if (!lab) throw new Error("useLab: the lab is not up (its beforeAll has not run or failed)");
    return lab;
  };
}

function useSharedLab({ hosts, dir, image }: SharedLab): () => Lab {
  const refuse = (what: string) => () =>
    Promise.reject(new Error(`useLab: ${what} a shared guest; pass { own: true } to useLab for guests of this suite's own`));
  const lab: Lab = {
    hosts: hosts.map((h) => ({ ...h, ssh: { ...h.ssh } })),
    dir,
    image,
    stop: () => Promise.resolve(),
    kill: refuse("cannot kill"),
    boot: refuse("cannot boot"),
  };
  // Registered before the suite's own hooks, so it runs after them (vitest runs after-hooks as a stack).
  afterAll(async () => {
    const left = await leaksOnGuests(hosts, testPrefix);
    if (left.length > 0) throw new Error(`this suite left on the shared lab guests (now removed):\n${left.join("\n")}`);
  }, 120_000);
  return () => lab;
}

/**
 * scripts/leaks.sh run on each guest for a prefix (and every prefix it starts): what is left, one
 * line per object, "<guest>: leak: …". Whatever it finds is removed with scripts/cleanup.sh, so
 * the next suite finds the guest clean.
 */
export async function leaksOnGuests(hosts: LabHost[], prefix: string): Promise<string[]> {
  const leaks = readFileSync(join(repoRoot, "scripts", "leaks.sh"), "utf8");
  const cleanup = readFileSync(join(repoRoot, "scripts", "cleanup.sh"), "utf8");
  const found: string[] = [];
  for (const host of hosts) {
    const r = await sshRun(host, `bash -s -- ${prefix}`, leaks, { timeoutMs: 60_000 });
    if (r.exitCode === 0) continue;
    found.push(
      ...r.stdout
        .trim()
        .split("\n")
        .map((l) => `${host.name}: ${l}`),
    );
    await sshRun(host, `bash -s -- ${prefix}`, cleanup, { timeoutMs: 60_000 });
  }
  return found;
}

/** The settings a kslice `Host` takes to reach a lab VM over SSH, host key checked. */
export function sshConnection(host: LabHost): {
  type: "ssh";
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKey: string;
} {
  return { type: "ssh", host: host.ssh.host, port: host.ssh.port, user: host.ssh.user, privateKey: host.ssh.privateKey, hostKey: host.ssh.hostKey };
}
