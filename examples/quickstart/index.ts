import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

export default async () => {
  const config = new pulumi.Config("kslice");
  const host = new kslice.Host("local", {
    connection: { type: "local" },
    prefix: config.get("prefix") ?? "kslice",
  });
  // A tenant's budget: every container placed below it shares these limits (#5 adds containers).
  const tenant = new kslice.ResourceLimits("tenant-a", {
    host,
    limits: { memory: { max: "2Gi" }, cpu: { max: 1.5, weight: 200 }, pids: { max: 1024 } },
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
    tenantPath: tenant.path,
    tenantLimits: tenant.limits,
  };
};
