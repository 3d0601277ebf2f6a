import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

// A pool of hosts reached over SSH and a ContainerSet spread over them. Config:
//   hosts       JSON [{ "name": "lab-1", "host": "10.0.0.5", "port": 22, "hostKey": "ssh-ed25519 AAAA…" }, …]
//   privateKey  (secret) the key that logs in as root on every host
//   draining    comma-separated host names whose replicas move to the others
//   replicas    how many (default 4); memory: each replica's memory.max (default "32Mi")
//   maxUnavailable  how many replicas may move at once (default 1)
export = async () => {
  const config = new pulumi.Config("kslice");
  const draining = new Set((config.get("draining") ?? "").split(",").filter(Boolean));
  const spec = JSON.parse(config.require("hosts")) as { name: string; host: string; port?: number; hostKey: string }[];
  const key = config.requireSecret("privateKey");
  const hosts = spec.map(
    (h) =>
      new kslice.Host(h.name, {
        connection: key.apply((privateKey) => ({
          type: "ssh" as const,
          host: h.host,
          port: h.port ?? 22,
          privateKey,
          hostKey: h.hostKey,
          connectTimeoutSeconds: 5,
        })),
        prefix: config.get("prefix") ?? "kslice",
        draining: draining.has(h.name),
      }),
  );
  const web = new kslice.ContainerSet("web", {
    hosts,
    replicas: Number(config.get("replicas") ?? "4"),
    maxUnavailable: config.getNumber("maxUnavailable") ?? 1,
    template: {
      // a file written once in the writable layer: it travels with the replica when it moves
      command: ["sh", "-c", "[ -f /born ] || echo \"born on $(cat /proc/sys/kernel/hostname)\" > /born; trap 'exit 0' TERM; sleep 3600 & wait"],
      limits: { memory: { max: config.get("memory") ?? "32Mi" }, cpu: { max: 0.1 }, pids: { max: 16 } },
      stopGraceSeconds: 2,
    },
  });
  return { assignments: web.assignments, warnings: web.warnings };
};
