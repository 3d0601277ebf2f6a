// What a disk limit adds to a create (issue 27, ARCHITECTURE.md "Disk limits: why"): a running
// container created through the Container lifecycle (check, then create: the same path as under
// the engine, without the engine) with `disk: { max }` and without, on a prefix of its own on this
// host. Rounds alternate (with, without) so that both see the same machine; each container is
// deleted before the next round. Asserts nothing; prints medians.
//   npm run bench:disk [-- ROUNDS [MAX]]     (as root; ROUNDS default 11, MAX default "1Gi")
import { randomBytes } from "node:crypto";
import { hostLifecycle } from "../provider/reconcile/host";
import { containerLifecycle as L } from "../provider/reconcile/container";
import { closeAllTransports } from "../provider/transport/open";
import { command, median, ms1, now, progress } from "./common";

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 11);
  const max = process.argv[3] ?? "1Gi";
  const prefix = `kslice-bd${randomBytes(2).toString("hex")}`;
  const host = { connection: { type: "local" }, prefix };
  const one = async (name: string, disk: boolean): Promise<number> => {
    const t = now();
    const c = await L.check({}, { host, name, command, stopGraceSeconds: 1, ...(disk ? { disk: { max } } : {}) });
    if (c.failures) throw new Error(JSON.stringify(c.failures));
    const r = await L.create(c.inputs!);
    const ms = now() - t;
    await L.delete(r.id, r.outs!);
    return ms;
  };
  const withDisk: number[] = [];
  const without: number[] = [];
  try {
    await one("warm", false); // the template, the host's setup and the supervisor, once
    for (let i = 0; i < rounds; i++) {
      withDisk.push(await one(`d${i}`, true));
      without.push(await one(`n${i}`, false));
    }
  } finally {
    await hostLifecycle.delete("", { ...host, runtime: "auto" }).catch((e: unknown) => progress(`cleanup of ${prefix}: ${String(e)}`));
    await closeAllTransports();
  }
  const w = median(withDisk)!;
  const wo = median(without)!;
  // the paired difference too: a machine shared with others drifts over a run, and a round's two creates see the same drift
  const paired = median(withDisk.map((x, i) => x - without[i]!))!;
  progress(
    `disk limit: a running container's create (check + create) with disk.max ${max}: ${ms1(w)} ms, without: ${ms1(wo)} ms; the disk image adds ${ms1(w - wo)} ms (${((w / wo - 1) * 100).toFixed(0)}%), median of the rounds' differences ${ms1(paired)} ms (medians of ${rounds}, alternating; with: ${withDisk.map(ms1).join(" ")}; without: ${without.map(ms1).join(" ")})`,
  );
}

main().catch((e: unknown) => {
  progress(String(e));
  process.exit(1);
});
