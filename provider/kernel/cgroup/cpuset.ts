import { expandList } from "../../../schema/units";
import { parentValue, trim, type ControllerMapping } from "./settings";

// cpuset files are named alike in v1 and v2; only v1 needs the parent's values copied (clone_children).
const s = (key: string, file: string, value: string) => ({ key, controller: "cpuset", file, value });

export const cpuset: ControllerMapping = {
  files: [
    { controller: "cpuset", file: "cpuset.cpus" },
    { controller: "cpuset", file: "cpuset.mems" },
  ],
  plan(l) {
    const c = l.cpu?.cpuset;
    return [
      ...(c?.cpus !== undefined ? [s("cpu.cpuset.cpus", "cpuset.cpus", c.cpus)] : []),
      ...(c?.mems !== undefined ? [s("cpu.cpuset.mems", "cpuset.mems", c.mems)] : []),
    ];
  },
  // Back to "the parent's set". v1 cannot write an empty cpuset; v2 can in principle ("inherit"),
  // but a populated cgroup refuses an empty cpuset.cpus (ENOSPC, kernel 6.1), so both take the
  // parent's set, resolved by the driver at write time (see parentValue).
  reset(l) {
    const c = l.cpu?.cpuset;
    return [
      ...(c?.cpus !== undefined ? [s("cpu.cpuset.cpus", "cpuset.cpus", parentValue)] : []),
      ...(c?.mems !== undefined ? [s("cpu.cpuset.mems", "cpuset.mems", parentValue)] : []),
    ];
  },
  // The kernel rewrites "0,1" as "0-1": compare the sets.
  normalize: (_s, raw) => expandList(trim(raw)).join(","),
  observe(files) {
    const cpus = trim(files["cpuset/cpuset.cpus"]);
    const mems = trim(files["cpuset/cpuset.mems"]);
    return { cpu: { cpuset: { ...(cpus ? { cpus } : {}), ...(mems ? { mems } : {}) } } };
  },
  unsupported: () => [],
};
