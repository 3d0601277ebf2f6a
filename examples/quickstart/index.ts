import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

// One host, one tenant's budget and network, three containers sharing them. `export =` of a function
// is what both `pulumi up` (the SDK runs it, its result is the stack's outputs) and the Automation
// API runner (scripts/stack.ts) take as the program.
export = async () => {
  const config = new pulumi.Config("kslice");
  const host = new kslice.Host("local", {
    connection: { type: "local" },
    prefix: config.get("prefix") ?? "kslice",
  });
  const tenant = new kslice.ResourceLimits("tenant-a", {
    host,
    limits: { memory: { max: "512Mi" }, cpu: { max: 1.5, weight: 200 }, pids: { max: 256 } },
  });
  // The tenant's own bridge: NAT for outbound traffic, isolated from other kslice networks.
  const net = new kslice.Network("tenant-net", {
    host,
    subnet: config.get("subnet") ?? "10.213.0.0/24",
    dynamicRange: config.get("dynamicRange") ?? "10.213.0.128/25",
    nat: true,
  });
  const webAddress = config.get("webAddress") ?? "10.213.0.10";
  // Each init handles SIGTERM so that stop and destroy do not wait for the grace period: the init is
  // PID 1 of its pid namespace, which the kernel sends no signal it has no handler for. The `trap` is
  // set first, in the init itself; only httpd goes to the background (`& wait`), since `a && trap … && b &`
  // would send the whole list, trap included, into a background subshell.
  const web = new kslice.Container("web", {
    host,
    parent: tenant,
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www && echo 'hello from kslice' > /www/index.html || exit 1; httpd -f -p 8080 -h /www & wait"],
    limits: { memory: { max: "64Mi" }, pids: { max: 32 } },
    // a static address, outside the range allocated ones come from
    networks: [{ network: net, address: webAddress }],
    // published on the host's loopback only: http://127.0.0.1:8080/
    ports: [{ hostPort: Number(config.get("webPort") ?? "8080"), containerPort: 8080, hostAddress: "127.0.0.1" }],
  });
  // Asks web for its page every 5 s, by name (an /etc/hosts entry), and logs the answer.
  const worker = new kslice.Container("worker", {
    host,
    parent: tenant,
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do echo \"tick: $(timeout 3 wget -q -O - http://web:8080/)\"; sleep 5 & wait; done"],
    limits: { cpu: { max: 0.25 }, memory: { max: "32Mi" }, pids: { max: 16 } },
    networks: [{ network: net, bandwidth: { egress: "10mbit", ingress: "10mbit" } }],
    hosts: { web: webAddress },
  });
  const cache = new kslice.Container("cache", {
    host,
    parent: tenant,
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /dev/shm/c && dd if=/dev/zero of=/dev/shm/c/blob bs=1M count=24 2>/dev/null; sleep 3600 & wait"],
    limits: { memory: { max: "128Mi" }, pids: { max: 16 } },
  });
  const show = (c: kslice.Container) => ({ pid: c.pid, status: c.status, address: c.address, limits: c.limits, log: c.logPath });
  return {
    host: {
      kernelRelease: host.kernelRelease,
      cgroupMode: host.cgroupMode,
      cpuCount: host.cpuCount,
      runtime: pulumi.interpolate`${host.runtimeName} ${host.runtimeVersion}`,
    },
    tenant: { path: tenant.path, limits: tenant.limits },
    network: { bridge: net.bridge, subnet: net.subnet, gateway: net.gateway },
    containers: { web: show(web), worker: show(worker), cache: show(cache) },
  };
};
