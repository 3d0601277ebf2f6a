// The lab tier's shared guests (vitest globalSetup of the `lab` project, vitest.config.mts): two
// VMs booted once for the whole tier instead of once per file. A file takes them through useLab
// (test/helpers/lab.ts) unless it reboots, crashes or kills its guests (`own: true`); each file
// works under a prefix of its own and is leak-checked on every guest when it ends, so the next file
// finds the guests as the previous one found them.
import type { TestProject } from "vitest/node";
import { startLab, type Lab, type LabHost, type LabImage } from "./lab";
import { mirrorOption } from "./mirror";

/** What the test files receive (serialisable: they run in other processes). */
export interface SharedLab {
  hosts: LabHost[];
  dir: string;
  image: LabImage;
  mirror?: { host: string; port: number };
}

declare module "vitest" {
  export interface ProvidedContext {
    /** null when sharing is off (KSLICE_LAB_SHARED=0): every file boots its own guests. */
    sharedLab: SharedLab | null;
  }
}

/** How many guests the tier shares: the most any sharing file asks for (migrate.lab: two). */
export const sharedCount = 2;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let lab: Lab | undefined;
  if (process.env.KSLICE_LAB_SHARED === "0") {
    project.provide("sharedLab", null);
  } else {
    const mirror = mirrorOption();
    // 2 vCPUs each even though they share 2 cores: only one file runs at a time, and the other guest idles.
    lab = await startLab(sharedCount, { cpus: 2, mirror, by: "shared", bootTimeoutMs: 600_000, log: (s) => console.log(s) });
    // never rebooted or killed while the tier runs: their commands can share a connection
    const hosts = lab.hosts.map((h) => ({ ...h, ssh: { ...h.ssh, mux: true } }));
    project.provide("sharedLab", { hosts, dir: lab.dir, image: lab.image, mirror });
  }
  return async () => {
    await lab?.stop();
  };
}
