import { describe, expect, it } from "vitest";
import { drainingStacksOf, parseMigration } from "../../cli/model";

describe("a bundle's migration record", () => {
  const result = { from: "a", to: "b", mode: "live", downtimeMs: 90, bytes: 4096, precopyBytes: 1024, templateBuilt: true, at: "2026-12-06T21:00:00.000Z" };

  it("is the finished migration it records", () => {
    expect(parseMigration(JSON.stringify({ source: {}, phase: "started", wasRunning: true, stoppedAt: 1, bytes: 4096, templateBuilt: true, result }))).toEqual(
      result,
    );
    expect(
      parseMigration(
        JSON.stringify({ phase: "started", result: { ...result, downtimeMs: null, mode: undefined, precopyBytes: undefined, templateBuilt: undefined } }),
      ),
    ).toEqual({ ...result, downtimeMs: null, mode: "cold", precopyBytes: 0, templateBuilt: false });
  });

  it("is none while the move is in progress, and when the record is missing or damaged", () => {
    for (const text of [
      undefined,
      "",
      "{",
      "null",
      "42",
      '"started"',
      "[]",
      JSON.stringify({ phase: "copying", bytes: 0 }),
      JSON.stringify({ phase: "copied", result }),
      JSON.stringify({ phase: "started" }),
      JSON.stringify({ phase: "started", result: { ...result, at: 5 } }),
      JSON.stringify({ phase: "started", result: { ...result, bytes: "many" } }),
      JSON.stringify({ phase: "started", result: { ...result, downtimeMs: "1" } }),
    ])
      expect(parseMigration(text), String(text)).toBeNull();
  });
});

describe("a host's draining records", () => {
  it("name the stacks whose Host declares it draining; a damaged record counts as none", () => {
    const rec = (stack: string, project: string) => JSON.stringify({ owner: `urn:pulumi:${stack}::${project}::kslice:index:Host::edge` });
    expect(
      drainingStacksOf(
        new Map([
          ["b", rec("prod", "fleet")],
          ["a", rec("dev", "fleet")],
          ["x", ""],
          ["y", "{"],
          ["z", '{"owner":7}'],
        ]),
      ),
    ).toEqual(["fleet/dev", "fleet/prod"]);
    expect(drainingStacksOf(new Map())).toEqual([]);
  });
});
