import { afterAll, describe, expect, it } from "vitest";
import { closeAllTransports, openTransport, transportKey } from "../../../provider/transport/open";

const ssh = (over: object = {}) => ({
  type: "ssh" as const,
  host: "10.0.0.5",
  port: 22,
  user: "root",
  privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
  hostKey: "ssh-ed25519 AAAAone",
  insecureIgnoreHostKey: false,
  connectTimeoutSeconds: 10,
  ...over,
});

describe("the transport cache", () => {
  afterAll(() => closeAllTransports());

  it("shares one transport per target and settings", () => {
    expect(openTransport(ssh())).toBe(openTransport(ssh()));
  });

  it("a new key, host key, host-key checking or timeout gets a transport of its own", () => {
    const base = openTransport(ssh());
    for (const over of [{ privateKey: "other key" }, { hostKey: "ssh-ed25519 AAAAtwo" }, { insecureIgnoreHostKey: true }, { connectTimeoutSeconds: 3 }]) {
      expect(openTransport(ssh(over))).not.toBe(base);
    }
  });

  it("keeps the key itself out of the cache key", () => {
    const key = transportKey(ssh({ privateKey: "SECRET-KEY-MATERIAL" }));
    expect(key).toMatch(/^root@10\.0\.0\.5:22#[0-9a-f]{16}$/);
    expect(key).not.toContain("SECRET");
  });
});
