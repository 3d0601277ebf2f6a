// The kernel tier's limits and container suites, run unchanged against a cgroup v2 host (the lab VM:
// Debian bookworm, cgroup_no_v1=all, crun) through kslice's SSH transport. The suites read the
// host's facts, so the files they expect are v2's here and v1's on the build machines.
import { afterAll, describe } from "vitest";
import { closeAllTransports } from "../../provider/transport/open";
import { hostUnderTest } from "../helpers/host";
import { sshConnection, useLab } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { containerSuite } from "../provider/reconcile/container.suite";
import { limitsSuite } from "../provider/reconcile/limits.suite";
import type { Connection } from "../../schema/connection";

describe("the kernel suites on a cgroup v2 lab VM over SSH", () => {
  const lab = useLab(1);
  const connect = () => hostUnderTest({ ...sshConnection(lab().hosts[0]!), insecureIgnoreHostKey: false, connectTimeoutSeconds: 10 } as Connection);
  afterAll(() => closeAllTransports());
  limitsSuite(connect, `${testPrefix}-slim`);
  containerSuite(connect, `${testPrefix}-sctr`);
});
