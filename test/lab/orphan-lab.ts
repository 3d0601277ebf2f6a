// A process that starts a one-VM lab, prints {"dir","pid"} and waits to be killed: the lab test
// kills it with SIGKILL to check that its VM does not outlive it and that the sweep removes its files.
import { startLab } from "./lab";

startLab(1).then(
  (lab) => {
    console.log(JSON.stringify({ dir: lab.dir, pid: lab.hosts[0]!.pid }));
    setInterval(() => {}, 60_000);
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
