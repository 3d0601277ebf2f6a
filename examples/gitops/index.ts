import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

// What a GitOps repository declares for one host: a team's budget and two containers in it.
// ci.sh (beside this file) checks on every branch that the host's kernel still matches this
// program, and applies it on main. The host is this machine, or one reached over SSH when
// `sshHost` is set. Settings (`pulumi config set …`): `prefix` (default kslice) and `subnet` (default
// 10.214.0.0/24) keep two stacks on one host apart; `teamMemory`, `apiPids`; and for SSH:
//   pulumi config set sshHost 10.0.0.5
//   pulumi config set sshHostKey "ssh-ed25519 AAAA…"
//   pulumi config set --secret sshPrivateKey -- "$(cat deploy_key)"
export = async () => {
  const config = new pulumi.Config();
  const sshHost = config.get("sshHost");
  const connection: kslice.HostArgs["connection"] = sshHost
    ? {
        type: "ssh",
        host: sshHost,
        port: config.getNumber("sshPort") ?? 22,
        user: config.get("sshUser") ?? "root",
        privateKey: config.requireSecret("sshPrivateKey"),
        hostKey: config.require("sshHostKey"),
      }
    : { type: "local" };
  const host = new kslice.Host("host", { connection, prefix: config.get("prefix") ?? "kslice" });
  // the team's own bridge: pick a subnet no other network or route of the host uses
  const net = new kslice.Network("net", { host, subnet: config.get("subnet") ?? "10.214.0.0/24" });

  const team = new kslice.ResourceLimits("team", {
    host,
    limits: { memory: { max: config.get("teamMemory") ?? "256Mi" }, cpu: { max: 1 }, pids: { max: 128 } },
  });
  // Each init handles SIGTERM so that an update that restarts it, and destroy, do not wait: the
  // `trap` is set in the init (PID 1) itself, and only httpd goes to the background (see quickstart).
  const api = new kslice.Container("api", {
    host,
    parent: team,
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www && echo ok > /www/health || exit 1; httpd -f -p 8080 -h /www & wait"],
    limits: { memory: { max: "64Mi" }, cpu: { max: 0.5 }, pids: { max: config.getNumber("apiPids") ?? 32 } },
    networks: [{ network: net }],
  });
  const worker = new kslice.Container("worker", {
    host,
    parent: team,
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do date > /tmp/heartbeat; sleep 10 & wait; done"],
    limits: { memory: { max: "32Mi" }, cpu: { max: 0.25 }, pids: { max: 16 } },
    networks: [{ network: net }],
  });
  const show = (c: kslice.Container) => ({ pid: c.pid, status: c.status, cgroupPath: c.cgroupPath, limits: c.limits });
  return { team: { path: team.path, limits: team.limits }, network: { bridge: net.bridge, subnet: net.subnet }, api: show(api), worker: show(worker) };
};
