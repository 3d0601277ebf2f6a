import type { Transport } from "../../transport/transport";
import type { HostFacts } from "../host-facts";
import type { CgroupHierarchy } from "./hierarchy";
import { V1Hierarchy } from "./v1/hierarchy";
import { V2Hierarchy } from "./v2/hierarchy";

/**
 * The one place that looks at the host's cgroup mode: a unified host gets the v2 hierarchy, a
 * legacy or hybrid one (v1 controllers; hybrid's v2 tree holds none kslice uses) the v1 hierarchy.
 */
export function createHierarchy(t: Transport, facts: HostFacts, prefix: string): CgroupHierarchy {
  return facts.cgroupMode === "unified" ? new V2Hierarchy(t, facts, prefix) : new V1Hierarchy(t, facts, prefix);
}
