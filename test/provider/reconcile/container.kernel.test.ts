import { localHost } from "../../helpers/host";
import { testPrefix } from "../../helpers/prefix";
import { containerSuite } from "./container.suite";

// The suite reads this host's facts (cgroup mode, runtime) and expects what they imply;
// test/lab/suites-v2.lab.test.ts runs the same suite against a cgroup v2 VM with crun.
containerSuite(localHost, `${testPrefix}-ctr`);
