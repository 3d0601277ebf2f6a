import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePathTests, parsePortsRead, parseSubmounts, pathTestsScript, submountsScript } from "../../../../provider/kernel/container/admission";

const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });

describe("admission scripts, run by the host's sh", () => {
  it("tell a present path, an absent one, and a directory that is or is not an OCI image layout", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-adm-"));
    try {
      writeFileSync(join(d, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      const tests = [
        { path: d, kind: "exists" as const },
        { path: join(d, "missing dir's"), kind: "exists" as const },
        { path: d, kind: "ociLayout" as const },
        { path: tmpdir(), kind: "ociLayout" as const },
      ];
      expect(parsePathTests(sh(pathTestsScript(tests)))).toEqual([true, false, true, false]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("find a mount at or below a source (/ has /proc, read from it), and none below a plain directory", () => {
    const d = mkdtempSync(join(tmpdir(), "kslice-adm-"));
    try {
      const [root, plain] = parseSubmounts(sh(submountsScript(["/", d])));
      expect(root).toMatch(/^\//);
      expect(plain).toBeUndefined();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("parsePortsRead", () => {
  it("splits claims from sockets and gives an address of any kind as 0.0.0.0, without brackets or a zone", () => {
    const out =
      "kslice web - tcp/0.0.0.0/8080\nother db urn:x udp/127.0.0.1/53\n@@\ntcp 0.0.0.0:22\ntcp [::]:80\nudp *:5353\ntcp 127.0.0.1%lo:631\ntcp [::1]:25\n";
    const { claims, sockets } = parsePortsRead(out);
    expect(claims).toEqual([
      { prefix: "kslice", container: "web", owner: undefined, key: "tcp/0.0.0.0/8080" },
      { prefix: "other", container: "db", owner: "urn:x", key: "udp/127.0.0.1/53" },
    ]);
    expect(sockets).toEqual([
      { proto: "tcp", port: 22, addr: "0.0.0.0" },
      { proto: "tcp", port: 80, addr: "0.0.0.0" },
      { proto: "udp", port: 5353, addr: "0.0.0.0" },
      { proto: "tcp", port: 631, addr: "127.0.0.1" },
      { proto: "tcp", port: 25, addr: "::1" },
    ]);
  });
});
