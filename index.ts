export { Host } from "./provider/resources/host";
export type { HostArgs, ConnectionArgs, SshConnectionArgs, LocalConnectionArgs, RuntimeInfo } from "./provider/resources/host";
