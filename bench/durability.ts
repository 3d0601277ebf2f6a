// What the records' sync adds to a create (ARCHITECTURE.md, "Durability"): the files a create
// writes into a new bundle, at their usual sizes, written by sh under /var/lib (where the records
// live) and synced with the create's own syncScript, against the same writes without it; rounds
// alternate so that both see the same disk. The create's other synced writes (claims, the boot
// unit's first install) are left out: most creates make only the bundle.
import { rmSync } from "node:fs";
import { syncScript } from "../provider/kernel/durable";
import { median, ms1, must, now, progress } from "./common";

/** A create's bundle files and their sizes in bytes, as in a bundle the bench made. */
const files: Record<string, number> = {
  "config.json": 9000,
  "kslice.json": 1500,
  "start.sh": 2500,
  "net.sh": 4000,
  "resolv.conf": 80,
  hosts: 200,
  hostname: 12,
  restart: 20,
  logmax: 10,
};

export interface SyncCost {
  withSync: number;
  without: number;
}

export function syncCost(prefix: string, rounds = 21): SyncCost {
  const root = `/var/lib/${prefix}-sync`;
  const one = (dir: string, sync: boolean) => {
    const paths = Object.keys(files).map((f) => `${dir}/${f}`);
    const write = [`mkdir -p ${dir}/upper ${dir}/work`, ...Object.entries(files).map(([f, n]) => `head -c ${n} /dev/zero > ${dir}/${f}`)].join("\n");
    const t = now();
    must(sync ? `${write}\n${syncScript([dir, ...paths, `${dir}/upper`, `${dir}/work`])}` : write);
    return now() - t;
  };
  const w: number[] = [];
  const wo: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      w.push(one(`${root}/s${i}`, true));
      wo.push(one(`${root}/n${i}`, false));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { withSync: median(w)!, without: median(wo)! };
}

export function reportSyncCost(prefix: string): SyncCost {
  const c = syncCost(prefix);
  progress(
    `durability: a create's bundle records (${Object.keys(files).length} files, 3 directories) written and synced: ${ms1(c.withSync)} ms, without the sync ${ms1(c.without)} ms: the sync adds ${ms1(c.withSync - c.without)} ms to a create (medians of 21, alternating)`,
  );
  return c;
}
