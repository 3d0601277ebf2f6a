import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import type * as kslice from "../../../index";

// Compile-time checks (npm run typecheck builds this file): every nested input takes a
// pulumi.Input, as in Pulumi's own SDKs, and a wrong type is still refused.
const mem: pulumi.Output<string> = pulumi.output("256Mi");
const key: pulumi.Output<string> = pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----");
const port: pulumi.Output<number> = pulumi.output(2222);

const connection: kslice.ConnectionArgs = { type: "ssh", host: pulumi.output("10.0.0.2"), port, privateKey: key, hostKey: pulumi.output("ssh-ed25519 AAAA") };
const host: kslice.HostArgs = { connection, prefix: pulumi.output("kslice") };
const limits: kslice.LimitsArgs = {
  memory: { max: mem, high: pulumi.output("max" as const) },
  cpu: { max: pulumi.output(1.5), weight: port, cpuset: { cpus: pulumi.output("0-1") } },
  pids: { max: port },
  io: { weight: port, devices: [{ device: pulumi.output("/dev/vda"), readBps: mem }] },
};
const container: kslice.ContainerArgs = {
  host: { connection, prefix: "kslice" },
  command: [pulumi.output("sh")],
  env: { TOKEN: key },
  limits,
  rootfs: { debootstrap: { suite: pulumi.output("bookworm"), packages: [pulumi.output("curl")] } },
  mounts: [
    { type: "bind", source: pulumi.output("/srv"), target: "/srv", readOnly: pulumi.output(false) },
    { type: "tmpfs", target: "/tmp", size: mem },
  ],
  user: { uid: port, gid: 0 },
  security: { capAdd: [pulumi.output("NET_ADMIN")], userNamespace: pulumi.output(true) },
  ports: [{ hostPort: port, protocol: pulumi.output("udp" as const) }],
  networks: [{ network: "tenant-net", bandwidth: { egress: pulumi.output("10mbit") } }],
  dns: { nameservers: [pulumi.output("192.0.2.53")] },
};
// @ts-expect-error a limit is a size or "max", not a boolean
const bad: kslice.LimitsArgs = { memory: { max: pulumi.output(true) } };

describe("nested inputs", () => {
  it("type-check with Outputs at every level (see npm run typecheck)", () => {
    expect([host, container, bad].length).toBe(3);
  });
});
