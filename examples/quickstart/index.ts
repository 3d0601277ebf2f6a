import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

// One host, one tenant's budget, three containers sharing it.
export default async () => {
  const config = new pulumi.Config("kslice");
  const host = new kslice.Host("local", {
    connection: { type: "local" },
    prefix: config.get("prefix") ?? "kslice",
  });
  const tenant = new kslice.ResourceLimits("tenant-a", {
    host,
    limits: { memory: { max: "512Mi" }, cpu: { max: 1.5, weight: 200 }, pids: { max: 256 } },
  });
  // Each init handles SIGTERM so that stop and destroy do not wait for the grace period.
  const web = new kslice.Container("web", {
    host,
    parent: tenant,
    command: ["sh", "-c", "mkdir -p /www && echo 'hello from kslice' > /www/index.html && trap 'exit 0' TERM && httpd -f -p 8080 -h /www & wait"],
    limits: { memory: { max: "64Mi" }, pids: { max: 32 } },
  });
  const worker = new kslice.Container("worker", {
    host,
    parent: tenant,
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do echo tick; sleep 5 & wait; done"],
    limits: { cpu: { max: 0.25 }, memory: { max: "32Mi" }, pids: { max: 16 } },
  });
  const cache = new kslice.Container("cache", {
    host,
    parent: tenant,
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /dev/shm/c && dd if=/dev/zero of=/dev/shm/c/blob bs=1M count=24 2>/dev/null; sleep 3600 & wait"],
    limits: { memory: { max: "128Mi" }, pids: { max: 16 } },
  });
  const show = (c: kslice.Container) => ({ pid: c.pid, status: c.status, limits: c.limits, usage: c.usage, log: c.logPath });
  return {
    host: { kernelRelease: host.kernelRelease, cgroupMode: host.cgroupMode, cpuCount: host.cpuCount, runtime: pulumi.interpolate`${host.runtimeName} ${host.runtimeVersion}` },
    tenant: { path: tenant.path, limits: tenant.limits },
    containers: { web: show(web), worker: show(worker), cache: show(cache) },
  };
};
