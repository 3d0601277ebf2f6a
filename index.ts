export { Host } from "./provider/resources/host";
export type { HostArgs, ConnectionArgs, SshConnectionArgs, LocalConnectionArgs, RuntimeInfo } from "./provider/resources/host";
export { ResourceLimits } from "./provider/resources/resource-limits";
export type { ResourceLimitsArgs } from "./provider/resources/resource-limits";
export type { LimitsArgs, CpuLimitsArgs, MemoryLimitsArgs, IoDeviceLimitsArgs, Size } from "./provider/resources/limits-types";
export type { HostRef } from "./provider/resources/host-ref";
export { Container } from "./provider/resources/container";
export type { ContainerArgs, RootfsArgs, MountArgs, ContainerUsage } from "./provider/resources/container";
