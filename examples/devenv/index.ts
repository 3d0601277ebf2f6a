import * as pulumi from "@pulumi/pulumi";
import * as kslice from "kslice";

/** The environment's Debian packages: the template is built from exactly these. */
const defaultPackages = ["git", "make", "less", "ca-certificates"];

// One developer environment, the same on every host that runs this program: a Debian bookworm
// template built on the host by mmdebstrap from the declared package list (from the host's own
// Debian mirror, or `mirror`), a workspace directory of the host bind-mounted read-write at
// /workspace, limits, and a network with outbound NAT. Changing the package list builds a new
// template and replaces the container; the workspace stays on the host.
//
//   pulumi config set workspace /srv/devenv/alice
//   pulumi config set --path 'packages[4]' python3      # or: config set packages '["git","make"]' --path=false
//   pulumi config set sshHost 10.0.0.5 (with sshHostKey and --secret sshPrivateKey) for another host
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
  const packages = config.getObject<string[]>("packages") ?? defaultPackages;
  const mirror = config.get("mirror"); // e.g. a dated snapshot of the Debian archive, to pin every version in time

  const net = new kslice.Network("devnet", {
    host,
    subnet: config.get("subnet") ?? "10.243.0.0/24",
    bridge: config.get("bridge"),
    nat: true,
  });
  const dev = new kslice.Container("dev", {
    host,
    rootfs: { debootstrap: { suite: "bookworm", packages, ...(mirror ? { mirror } : {}) } },
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
    hostname: "devenv",
    workingDir: "/workspace",
    mounts: [{ type: "bind", source: config.get("workspace") ?? "/srv/devenv/workspace", target: "/workspace", readOnly: false }],
    limits: { memory: { max: config.get("memory") ?? "1Gi" }, cpu: { max: config.getNumber("cpus") ?? 1 }, pids: { max: 512 } },
    networks: [{ network: net }],
  });
  return { packages, pid: dev.pid, status: dev.status, address: dev.address, bundlePath: dev.bundlePath, cgroupPath: dev.cgroupPath };
};
