// What pre-copy buys a migration (ARCHITECTURE.md, "Migration: pre-copy"): the copy made while the
// container is stopped, through the provider's own path (kernel/container/migrate.ts's scripts,
// piped by transport/stream.ts over the local transport) between two bundles under /var/lib.
// Before: the whole writable layer moves while stopped. Now: it moves while the container runs, and
// only what changed moves while stopped: with an idle container, and with a busy writer appending
// to a log during the pre-copy. Asserts nothing; prints medians and ratios.
//   npm run bench:migration [-- LAYER_MIB [ROUNDS]]
import { mkdirSync, rmSync } from "node:fs";
import {
  archiveUpperScript,
  keepTargetManifestScript,
  pruneUpperScript,
  restoreUpperScript,
  upperManifestScript,
  type ArchivePhase,
} from "../provider/kernel/container/migrate";
import { LocalTransport } from "../provider/transport/local";
import { pipeHosts } from "../provider/transport/stream";
import { median, MiB, must, now, progress, s } from "./common";

const t = new LocalTransport();

async function copy(src: string, dst: string, lower: string, phase: ArchivePhase): Promise<{ ms: number; bytes: number }> {
  const began = now();
  if (phase.kind === "changes") {
    const p = await pipeHosts(t, ["sh", "-c", upperManifestScript(src)], t, ["sh", "-c", pruneUpperScript(dst)], { timeoutMs: 600_000 });
    if (p.from.exitCode || p.to.exitCode) throw new Error(`prune: ${p.from.stderr}${p.to.stderr}`);
    const l = await pipeHosts(t, ["sh", "-c", upperManifestScript(dst)], t, ["sh", "-c", keepTargetManifestScript(src)], { timeoutMs: 600_000 });
    if (l.from.exitCode || l.to.exitCode) throw new Error(`listing: ${l.from.stderr}${l.to.stderr}`);
  }
  const r = await pipeHosts(
    t,
    ["sh", "-c", archiveUpperScript(src, undefined, phase)],
    t,
    ["sh", "-c", restoreUpperScript(dst, lower, undefined, phase.kind)],
    { timeoutMs: 600_000 },
  );
  if (r.from.exitCode || r.to.exitCode) throw new Error(`copy (${phase.kind}): ${r.from.stderr}${r.to.stderr}`);
  return { ms: now() - began, bytes: r.bytes };
}

async function main(): Promise<void> {
  const layerMiB = Number(process.argv[2] ?? 200);
  const rounds = Number(process.argv[3] ?? 3);
  const root = `/var/lib/kslice-bench-mig-${process.pid}`;
  const [src, lower] = [`${root}/src`, `${root}/lower`];
  const files = Math.max(1, Math.floor(layerMiB / 2));
  try {
    // a layer like an installed program's: files of 2 MiB and 2,000 small ones in 40 directories
    must(
      [
        `mkdir -p ${src}/upper/big ${lower}`,
        `for i in $(seq ${files}); do head -c ${2 * MiB} /dev/urandom > ${src}/upper/big/f$i; done`,
        `for d in $(seq 40); do mkdir -p ${src}/upper/small/d$d; for f in $(seq 50); do echo "$d $f" > ${src}/upper/small/d$d/f$f; done; done`,
        `sync -f ${src}`,
      ].join("\n"),
      600_000,
    );
    const whole: number[] = [];
    const idle: number[] = [];
    const busy: number[] = [];
    const bytes = { whole: 0, idle: 0, busy: 0, precopy: 0 };
    for (let i = 0; i < rounds; i++) {
      const dst = (k: string) => (
        rmSync(`${root}/${k}`, { recursive: true, force: true }),
        mkdirSync(`${root}/${k}/rootfs`, { recursive: true }),
        `${root}/${k}`
      );
      const w = await copy(src, dst("whole"), lower, { kind: "whole" });
      whole.push(w.ms);
      bytes.whole = w.bytes;
      must(`umount ${root}/whole/rootfs`);

      for (const writer of [false, true]) {
        const d = dst(writer ? "busy" : "idle");
        // the clock read as the migration reads it (2 s early), the layer's files older still
        await new Promise((r) => setTimeout(r, 3100));
        const since = Math.floor(Date.now() / 1000) - 2;
        // the busy writer appends 1 MiB every 100 ms to a log while the pre-copy runs, as a database or logger would
        if (writer)
          must(
            `(for i in $(seq 1000); do head -c ${MiB} /dev/urandom >> ${src}/upper/app.log || exit; sleep 0.1; done) >/dev/null 2>&1 & echo $! > ${root}/writer.pid`,
          );
        const p = await copy(src, d, lower, { kind: "precopy" });
        if (writer) must(`kill $(cat ${root}/writer.pid); sleep 0.2`);
        must(`echo changed > ${src}/upper/small/d1/f1 && rm -f ${src}/upper/small/d2/f2`);
        const c = await copy(src, d, lower, { kind: "changes", since });
        (writer ? busy : idle).push(c.ms);
        bytes[writer ? "busy" : "idle"] = c.bytes;
        if (!writer) bytes.precopy = p.bytes;
        must(`umount ${d}/rootfs; rm -f ${src}/upper/app.log; echo "1 1" > ${src}/upper/small/d1/f1; echo "2 2" > ${src}/upper/small/d2/f2`);
      }
    }
    const [mw, mi, mb] = [median(whole)!, median(idle)!, median(busy)!];
    progress(`migration: a ${layerMiB} MiB layer (${files} files of 2 MiB, 2,000 small), ${rounds} rounds, medians, local transport`);
    progress(`  stopped the whole time (before): copy ${s(mw)} s, ${(bytes.whole / MiB).toFixed(1)} MiB`);
    progress(
      `  pre-copy, idle container: copy while stopped ${s(mi)} s, ${(bytes.idle / MiB).toFixed(2)} MiB (${(mi / mw).toFixed(3)}× of before); pre-copy ${(bytes.precopy / MiB).toFixed(1)} MiB while it ran`,
    );
    progress(
      `  pre-copy, a writer appending 10 MiB/s during it: copy while stopped ${s(mb)} s, ${(bytes.busy / MiB).toFixed(1)} MiB (${(mb / mw).toFixed(3)}× of before): its log goes again whole`,
    );
  } finally {
    must(`for m in ${root}/*/rootfs; do mountpoint -q "$m" && umount "$m"; done; true`);
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
