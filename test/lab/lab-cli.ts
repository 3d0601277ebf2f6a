// lab-cli — the lab by hand (run through lab.sh):
//   image            build or find the cached VM image; prints the build time
//   up [N]           boot N VMs (default 1), print how to reach each, keep them until Ctrl-C
//   check [N]        boot N VMs, show hostname and cgroup v2 controllers of each, stop them
//   down [--all]     kill and remove runs whose owner process died (--all: every run)
import { ensureImage, startLab, sshRun, sweepRuns, type Lab } from "./lab";

const log = (s: string) => console.error(s);

function count(arg: string | undefined): number {
  const n = Number(arg ?? "1");
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a VM count, got ${JSON.stringify(arg)}`);
  return n;
}

function describe(lab: Lab): void {
  for (const h of lab.hosts) {
    console.log(
      `${h.name}: ssh -i ${h.ssh.privateKeyPath} -o UserKnownHostsFile=${h.ssh.knownHostsPath} -p ${h.ssh.port} root@127.0.0.1` +
        `  (boot-to-SSH ${h.bootSeconds.toFixed(1)}s, QEMU RSS ${(h.memoryKiB / 1024).toFixed(0)} MiB)`,
    );
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, arg] = argv;
  switch (cmd) {
    case "image": {
      const img = await ensureImage({ log });
      console.log(`${img.built ? "built" : "cached"} ${img.path} in ${img.seconds.toFixed(1)}s`);
      return;
    }
    case "up": {
      const lab = await startLab(count(arg), { log });
      describe(lab);
      console.log("Ctrl-C stops the VMs and removes their files.");
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await lab.stop();
      return;
    }
    case "check": {
      const lab = await startLab(count(arg), { log });
      try {
        describe(lab);
        for (const h of lab.hosts) {
          const r = await sshRun(h, "hostname; cat /sys/fs/cgroup/cgroup.controllers");
          console.log(`${h.name}: ${r.stdout.trim().replace("\n", ": ")}`);
        }
      } finally {
        await lab.stop();
      }
      return;
    }
    case "down": {
      const removed = await sweepRuns({ all: arg === "--all", log });
      console.log(`removed ${removed.length} lab run(s)`);
      return;
    }
    default:
      throw new Error(`usage: lab.sh image | up [N] | check [N] | down [--all] (got ${JSON.stringify(cmd)})`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
