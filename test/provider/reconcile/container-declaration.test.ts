import { describe, expect, it } from "vitest";
import { declaration } from "../../../provider/reconcile/container";

// What the engine gives a check or a diff: a fresh object per call, the same declaration.
const props = (over: Record<string, unknown> = {}) => ({
  host: { connection: { type: "local" }, prefix: "kslice" },
  name: "web",
  command: ["sh", "-c", "sleep 1"],
  limits: { memory: { max: "32Mi" } },
  owner: "urn:pulumi:s::p::pulumi-nodejs:dynamic/kslice:Container::web",
  // an output: not part of the declaration
  pid: 42,
  ...over,
});

describe("a container's declaration", () => {
  it("is parsed once for objects that hold the same declaration, and cannot be changed by one of its users", () => {
    const a = declaration(props());
    const b = declaration(props({ pid: 43, status: "running" }));
    expect(a).toBeDefined();
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a!.limits.memory)).toBe(true);
    expect(() => {
      (a!.command as string[]).push("x");
    }).toThrow(TypeError);
  });

  it("is another for another declaration, down to a nested value", () => {
    const a = declaration(props());
    const b = declaration(props({ limits: { memory: { max: "64Mi" } } }));
    expect(b).not.toBe(a);
    expect(b!.limits.memory!.max).not.toEqual(a!.limits.memory!.max);
    expect(declaration(props({ command: 5 }))).toBeUndefined();
  });
});
