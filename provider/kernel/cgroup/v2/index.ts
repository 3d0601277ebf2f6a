import { cpuset } from "../cpuset";
import { pids } from "../pids";
import type { ControllerMapping } from "../settings";
import { cpu } from "./cpu";
import { io } from "./io";
import { memory } from "./memory";

export const v2Mappings: ControllerMapping[] = [cpuset, cpu, memory, pids, io];
