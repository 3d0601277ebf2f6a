import { backupArgs } from "../../schema/backup";
import { containerArgs } from "../../schema/container";
import { hostArgs } from "../../schema/host";
import { networkArgs } from "../../schema/network";
import { placementArgs } from "../../schema/placement";
import { resourceLimitsArgs } from "../../schema/resource-limits";
import type { Usage } from "../kernel/cgroup/usage";
import type { HostFacts } from "../kernel/host-facts";
import type { LeftBehind, MigrationRecord } from "./container/move-records";
import type { Status } from "./container/status";
import { kind } from "./kind";

// Every kind, defined once: its schema, the field policy beside it and its outputs' type
// (kind.ts). A lifecycle is written against these (TypedLifecycle); the engine's props meet them
// only in kind.ts's adapter.

/** `machineId` in every kind made on a host: which machine it is on (host-identity.ts). */
export interface OnMachine {
  machineId: string;
}

/** A Host's outputs: the facts read from the kernel (its inputs stay beside them: Node's diff sees only old outputs). */
export type HostFactsOutputs = OnMachine & {
  hostname: string;
  kernelRelease: string;
  cgroupMode: HostFacts["cgroupMode"];
  cgroupControllers: string[];
  cpuCount: number;
  memoryTotalBytes: number;
  userNamespaces: boolean;
  runtimes: HostFacts["runtimes"];
  runtimeName: string;
  runtimeVersion: string;
};
export const hostKind = kind<HostFactsOutputs>()({
  schema: hostArgs,
  kept: ["owner"],
  // and `connection` when it reaches another machine (hostReplaces)
  replaces: ["prefix"],
  secret: ["connection"],
});

export const limitsKind = kind<OnMachine & { path: string }>()({
  schema: resourceLimitsArgs,
  kept: ["owner"],
  hints: ["parentLimits", "parentDisk"],
  replaces: ["name", "parent"],
  secret: ["host"],
});

export const networkKind = kind<
  OnMachine & { bridge: string; gateway: string; prefixLength: number; gateway6: string | undefined; status: "missing" | "up" | "down" }
>()({
  schema: networkArgs,
  kept: ["owner"],
  // compared as the kernel names them (networkSpec): another value is another bridge
  replaces: ["name", "subnet", "gateway", "bridge", "subnet6", "gateway6"],
  secret: ["host"],
});

export type ContainerOutputs = OnMachine & {
  runtimeId: string;
  runtime: string;
  status: Status;
  pid: number;
  startedAt: string;
  cgroupPath: string;
  bundlePath: string;
  logPath: string;
  usage: Usage | null;
  /** network name → address */
  addresses: Record<string, string | null>;
  address: string | null;
  address6: string | null;
  securityDrift: string[];
  lastMigration: MigrationRecord | null;
  leftBehind: LeftBehind[];
};
export const containerKind = kind<ContainerOutputs>()({
  schema: containerArgs,
  // diskFrom: a `disk` that check took from the Host's defaults (container/inputs.ts withHostDefaults)
  kept: ["owner", "diskFrom"],
  hints: ["parentLimits", "parentDisk", "hostDefaults"],
  // what a running container cannot take (delete first: names are unique)
  replaces: ["name", "parent", "rootfs", "command", "env", "workingDir", "user", "hostname", "mounts", "security"],
  secret: ["host", "env", "leftBehind"],
});

// assignments and warnings are inputs its check decides (placement-lifecycle.ts), so no outputs
export const placementKind = kind()({ schema: placementArgs, replaces: [], secret: ["hosts"] });

export const backupKind = kind<{ files: string[]; file: string; sha256: string; bytes: number; created: string; frozenMs: number }>()({
  schema: backupArgs,
  replaces: ["host", "container"],
  secret: ["host"],
});
