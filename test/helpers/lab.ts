import { afterAll, beforeAll } from "vitest";
import { startLab, type Lab, type LabHost, type LabOptions } from "../lab/lab";

export { sshRun, type Lab, type LabHost, type LabOptions } from "../lab/lab";

/**
 * Boots `count` lab VMs (Debian bookworm, cgroup v2 only, runc and crun, root over SSH) before the
 * suite and stops them after it. Call the returned function inside tests to get the running lab.
 *
 *   const lab = useLab(1);
 *   it("…", async () => { const host = lab().hosts[0]!; await sshRun(host, "cat /sys/fs/cgroup/cgroup.controllers"); });
 */
export function useLab(count = 1, opts: LabOptions = {}): () => Lab {
  let lab: Lab | undefined;
  // Bounded: a cold image build (about 4 minutes here) plus up to three boots, with room to spare.
  beforeAll(async () => {
    lab = await startLab(count, { log: (s) => console.log(s), ...opts });
  }, 900_000);
  afterAll(async () => {
    await lab?.stop();
  }, 60_000);
  return () => {
    if (!lab) throw new Error("useLab: the lab is not up (its beforeAll has not run or failed)");
    return lab;
  };
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
