import { cpuset } from "../cpuset";
import { pids } from "../pids";
import type { ControllerMapping } from "../settings";
import { cpu } from "./cpu";
import { io } from "./io";
import { memory } from "./memory";

// v1 cannot write an empty cpuset ("inherit"): the shared mapping resets to the parent's value (parentValue).
export const v1Mappings: ControllerMapping[] = [cpuset, cpu, memory, pids, io];
