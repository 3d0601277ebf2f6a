import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const report = join(__dirname, "..", "..", "..", "examples", "gitops", "drift-report.jq");
const urn = (type: string, name: string) => `urn:pulumi:test::kslice-gitops::pulumi-nodejs:dynamic/kslice:${type}::${name}`;
const rows = (preview: unknown) =>
  execFileSync("jq", ["-r", "-f", report], { input: JSON.stringify(preview), encoding: "utf8" })
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\t"));
const state = (inputs: object, outputs: object) => ({
  inputs: { __provider: "exports.handler = …", ...inputs },
  outputs: { __provider: "exports.handler = …", ...outputs },
});

// The shape of `pulumi preview --refresh --json` (3.248): oldState.outputs as refreshed from the
// kernel, oldState.inputs as recorded by the last up, newState.inputs as the program declares.
describe("drift-report.jq", () => {
  it("names each differing property with the kernel's and the repository's value and where it changed", () => {
    const host = { connection: { type: "ssh", privateKey: "[secret]" }, prefix: "kslice" };
    expect(
      rows({
        steps: [
          { op: "same", urn: urn("Host", "host") },
          { op: "refresh", urn: urn("Container", "api"), oldState: state({}, {}), newState: state({}, {}) },
          {
            op: "update",
            urn: urn("Container", "api"),
            oldState: state(
              { host, limits: { pids: { max: 32 }, memory: { max: "64Mi" } } },
              { host: "[secret]", limits: { pids: { max: 99 }, memory: { max: "64Mi" } }, status: "running" },
            ),
            newState: state({ host, limits: { pids: { max: 40 }, memory: { max: "64Mi" } } }, {}),
          },
          {
            op: "update",
            urn: urn("ResourceLimits", "team"),
            oldState: state({ limits: { cpu: { max: 1 } } }, { limits: { cpu: { max: 1 } } }),
            newState: state({ limits: { cpu: { max: 1 } }, parent: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" }, {}),
          },
          {
            op: "update",
            urn: urn("Container", "worker"),
            oldState: state({ command: ["sh"] }, { command: ["sh"], status: "stopped", securityDrift: ["seccomp"] }),
            newState: state({ command: ["sh"] }, {}),
          },
          { op: "create", urn: urn("Network", "lan") },
          { op: "delete", urn: urn("Container", "old") },
        ],
      }),
    ).toEqual([
      ["Container api", "update", "limits.pids.max", "99", "40", "host and repository"],
      ["ResourceLimits team", "update", "parent", "-", "(known after up)", "in the repository"],
      ["Container worker", "update", "(state)", "status stopped, security seccomp", "as declared", "on the host"],
      ["Network lan", "create", "(resource)", "absent", "declared", "-"],
      ["Container old", "delete", "(resource)", "present", "not declared", "-"],
    ]);
  });

  it("prints nothing when every step is same or refresh", () => {
    expect(
      rows({
        steps: [
          { op: "same", urn: urn("Host", "host") },
          { op: "refresh", urn: urn("Host", "host") },
        ],
      }),
    ).toEqual([]);
  });
});
