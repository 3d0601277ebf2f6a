import { describe, expect, it } from "vitest";
import { hostArgs } from "../../schema/host";
import { parseInput } from "../../schema/issues";

const failures = (input: unknown) => {
  const r = parseInput(hostArgs, input);
  return r.ok ? [] : r.failures;
};

describe("hostArgs", () => {
  it("applies the documented defaults", () => {
    const r = parseInput(hostArgs, { connection: { type: "ssh", host: "h", privateKey: "k" } });
    expect(r).toEqual({
      ok: true,
      value: {
        connection: { type: "ssh", host: "h", port: 22, user: "root", privateKey: "k", insecureIgnoreHostKey: false, connectTimeoutSeconds: 10 },
        prefix: "kslice",
        runtime: "auto",
      },
    });
  });

  it("names connection.type and the allowed values for an unknown type", () => {
    expect(failures({ connection: { type: "telnet" } })).toEqual([{ property: "connection.type", reason: 'got "telnet"; expected one of "local", "ssh"' }]);
  });

  it.each([
    [{ connection: { type: "ssh", host: "h", privateKey: "k", port: 70000 } }, "connection.port", "got 70000; expected at most 65535"],
    [{ connection: { type: "ssh", host: "h", privateKey: "k", port: 0 } }, "connection.port", "got 0; expected at least 1"],
    [{ connection: { type: "ssh", host: "h", privateKey: "k", port: 22.5 } }, "connection.port", "got 22.5; expected a whole number"],
    [{ connection: { type: "ssh", host: " ", privateKey: "k" } }, "connection.host", "expected at least 1 characters"],
    [{ connection: { type: "local" }, prefx: "x" }, "prefx", 'unknown property "prefx" (a typo?)'],
    [{ connection: { type: "local" }, prefix: "Bad/Name" }, "prefix", "expected lowercase letters"],
    [{ connection: { type: "local" }, runtime: "docker" }, "runtime", 'got "docker"; expected one of "auto", "runc", "crun"'],
    [{}, "connection", "is required"],
    [{ connection: { type: "local" }, defaults: { disk: { max: "8Mi" } } }, "defaults.disk.max", 'expected at least "16Mi"'],
    [{ connection: { type: "local" }, defaults: { disk: { max: "lots" } } }, "defaults.disk.max", 'got "lots", which is not a size'],
    [{ connection: { type: "local" }, defaults: { disk: { max: "64Mi", inodes: 1.5 } } }, "defaults.disk.inodes", "got 1.5; expected a whole number"],
  ])("rejects %j at %s", (input, property, reason) => {
    const f = failures(input);
    expect(f).toHaveLength(1);
    expect(f[0]!.property).toBe(property);
    expect(f[0]!.reason).toContain(reason);
  });
});
