import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

export default async () => {
  const config = new pulumi.Config("kslice");
  const host = new kslice.Host("local", {
    connection: { type: "local" },
    prefix: config.get("prefix") ?? "kslice",
  });
  return {
    hostname: host.hostname,
    kernelRelease: host.kernelRelease,
    cgroupMode: host.cgroupMode,
    cgroupControllers: host.cgroupControllers,
    cpuCount: host.cpuCount,
    memoryTotalBytes: host.memoryTotalBytes,
    userNamespaces: host.userNamespaces,
    runtime: pulumi.interpolate`${host.runtimeName} ${host.runtimeVersion}`,
  };
};
