import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

// bench/programs/containers, with every container on one network (an allocated address, a veth):
// what bench/containers.ts times to show the cost of networking against the same run's plain create.
export default async () => {
  const config = new pulumi.Config("kslice");
  const host = new kslice.Host("local", { connection: { type: "local" }, prefix: config.require("prefix") });
  const n = Number(config.require("count"));
  const budget = new kslice.ResourceLimits("budget", {
    host,
    limits: { memory: { max: "16Gi" }, pids: { max: 8192 }, cpu: { weight: 100 } },
  });
  // a /22 holds the largest N the bench takes (1000)
  const net = new kslice.Network("bench", { host, subnet: "10.241.0.0/22" });
  const pids = [];
  for (let i = 0; i < n; i++) {
    const c = new kslice.Container(`c-${i}`, {
      host,
      parent: budget,
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
      limits: { memory: { max: "32Mi" }, pids: { max: 16 }, cpu: { weight: 100 } },
      networks: [{ network: net }],
      stopGraceSeconds: 1,
    });
    pids.push(c.pid);
  }
  return { count: n, running: pulumi.all(pids).apply((ps) => ps.filter((p) => p > 0).length) };
};
