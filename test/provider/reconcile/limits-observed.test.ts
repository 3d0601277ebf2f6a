import { describe, expect, it } from "vitest";
import { observedInputs } from "../../../provider/reconcile/limits-observed";
import { limits } from "../../../schema/limits";

const setting = (key: string) => ({ key, controller: "x", file: "x", value: "x" });

describe("observedInputs: refreshed limits are values the schema accepts", () => {
  it('an empty cpuset (the parent\'s) leaves the field out instead of storing ""', () => {
    const out = observedInputs({ cpu: { cpuset: { cpus: "0" }, weight: 100 } }, [setting("cpu.cpuset.cpus")], { cpu: { cpuset: {} } });
    expect(out).toEqual({ cpu: { weight: 100 } });
    expect(limits.safeParse(out).success).toBe(true);
  });

  it("memory.low read as unlimited (v1's default soft limit, v2's \"max\") leaves the field out", () => {
    const v1 = observedInputs({ memory: { low: "64Mi", max: "256Mi" } }, [setting("memory.low")], { memory: { max: 268435456 } });
    expect(v1).toEqual({ memory: { max: "256Mi" } });
    const v2 = observedInputs({ memory: { low: "64Mi" } }, [setting("memory.low")], { memory: { low: "max" as unknown as number } });
    expect(v2).toEqual({});
    expect(limits.safeParse(v1).success && limits.safeParse(v2).success).toBe(true);
  });

  it("values the schema takes are shown in the user's notation", () => {
    const out = observedInputs({ memory: { max: "256Mi" }, pids: { max: 64 } }, [setting("memory.max"), setting("pids.max")], {
      memory: { max: 134217728 },
      pids: { max: 99 },
    });
    expect(out).toEqual({ memory: { max: "128Mi" }, pids: { max: 99 } });
  });
});
