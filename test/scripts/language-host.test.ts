import { RunRequest, ProgramInfo } from "@pulumi/pulumi/proto/language_pb";
import { createServer, type AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { configEnv, runArguments, watchEngine } from "../../scripts/language-host";

describe("the stand-in language host's command line for the SDK's cmd/run", () => {
  it("passes the flags the official host passes, then the entry point and the program's args", () => {
    const info = new ProgramInfo().setRootDirectory("/p").setProgramDirectory("/p/src").setEntryPoint("index.ts");
    const req = new RunRequest()
      .setMonitorAddress("127.0.0.1:1")
      .setOrganization("org")
      .setProject("proj")
      .setStack("dev")
      .setDryrun(true)
      .setParallel(16)
      .setInfo(info)
      .setArgsList(["x"]);
    expect(runArguments("/sdk/cmd/run", "127.0.0.1:2", req)).toEqual([
      "/sdk/cmd/run",
      "--monitor",
      "127.0.0.1:1",
      "--engine",
      "127.0.0.1:2",
      "--organization",
      "org",
      "--project",
      "proj",
      "--root-directory",
      "/p",
      "--stack",
      "dev",
      "--pwd",
      "/p/src",
      "--dry-run",
      "--parallel",
      "16",
      "index.ts",
      "x",
    ]);
  });

  it("leaves out empty flags and --dry-run on an update, and runs the directory when no entry point is given", () => {
    const req = new RunRequest().setMonitorAddress("m").setStack("s").setPwd("/w").setParallel(0);
    expect(runArguments("run", "", req)).toEqual(["run", "--monitor", "m", "--stack", "s", "--pwd", "/w", "--parallel", "0", "."]);
  });

  it("writes config keys as <namespace>:config:<name>, the form every SDK version reads", () => {
    expect(
      JSON.parse(
        configEnv([
          ["kslice:prefix", "p"],
          ["proj:a:b", "1"],
          ["aws:config:region", "x"],
        ]),
      ),
    ).toEqual({
      "kslice:config:prefix": "p",
      "proj:config:a:b": "1",
      "aws:config:region": "x",
    });
  });
});

describe("the stand-in language host's engine watch", () => {
  it("says nothing while the engine answers and calls `gone` after two refused connections", async () => {
    const engine = createServer((s) => s.destroy());
    await new Promise<void>((r) => engine.listen(0, "127.0.0.1", r));
    const address = `127.0.0.1:${(engine.address() as AddressInfo).port}`;
    const reasons: string[] = [];
    const timer = watchEngine(address, (why) => reasons.push(why), 20);
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(reasons).toEqual([]);
      await new Promise<void>((r) => engine.close(() => r()));
      for (let i = 0; i < 100 && reasons.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(reasons[0]).toBe(`the engine at ${address} is gone`);
    } finally {
      clearInterval(timer);
    }
  });
});
