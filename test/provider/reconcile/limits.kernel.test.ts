import { localHost } from "../../helpers/host";
import { testPrefix } from "../../helpers/prefix";
import { limitsSuite } from "./limits.suite";

// The suite reads this host's facts (cgroup mode, controllers) and expects the files they imply;
// test/lab/suites-v2.lab.test.ts runs the same suite against a cgroup v2 VM.
limitsSuite(localHost, `${testPrefix}-lim`);
