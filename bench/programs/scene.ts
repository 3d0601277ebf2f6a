import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

/**
 * One host, one budget, N busybox containers inside it: what bench/containers.ts times through the
 * engine. With `network`, every container also joins one Network (a veth, an allocated address).
 */
export function containersScene(network: boolean) {
  const config = new pulumi.Config("kslice");
  const host = new kslice.Host("local", { connection: { type: "local" }, prefix: config.require("prefix") });
  const n = Number(config.require("count"));
  // Room for every container below it: the check refuses a child limit above its parent's.
  const budget = new kslice.ResourceLimits("budget", {
    host,
    limits: { memory: { max: "16Gi" }, pids: { max: 8192 }, cpu: { weight: 100 } },
  });
  // the bench's --subnet (default 10.241.0.0/22: a /22 holds the largest N the bench takes, 1000)
  const net = network ? new kslice.Network("bench", { host, subnet: config.get("subnet") ?? "10.241.0.0/22" }) : undefined;
  const pids = [];
  for (let i = 0; i < n; i++) {
    const c = new kslice.Container(`c-${i}`, {
      host,
      parent: budget,
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
      limits: { memory: { max: "32Mi" }, pids: { max: 16 }, cpu: { weight: 100 } },
      ...(net ? { networks: [{ network: net }] } : {}),
      stopGraceSeconds: 1,
    });
    pids.push(c.pid);
  }
  return { count: n, running: pulumi.all(pids).apply((ps) => ps.filter((p) => p > 0).length) };
}
