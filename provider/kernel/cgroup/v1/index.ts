import { cpuset as shared } from "../cpuset";
import { pids } from "../pids";
import type { ControllerMapping } from "../settings";
import { cpu } from "./cpu";
import { io } from "./io";
import { memory } from "./memory";

// v1 cannot write an empty cpuset ("inherit"); the driver resolves this marker to the parent's value.
export const parentValue = "@parent";

const cpuset: ControllerMapping = {
  ...shared,
  reset: (l, ctx) => shared.reset(l, ctx).map((s) => ({ ...s, value: parentValue })),
};

export const v1Mappings: ControllerMapping[] = [cpuset, cpu, memory, pids, io];
