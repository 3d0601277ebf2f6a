import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { providerText, type Kind } from "../../../provider/resources/shim";

const require = createRequire(import.meta.url);

describe("the __provider text of kslice's resources", () => {
  // what the SDK's dynamic-provider process does with it (cmd/dynamic-provider: getProvider)
  const requireFromString = require("require-from-string") as (src: string) => { handler: () => unknown };
  const { lifecycles } = require("kslice/dist/provider/reconcile/lifecycles") as { lifecycles: Record<string, unknown> };

  it.each(["host", "limits", "container", "network", "placement"] satisfies Kind[])(
    "hands the dynamic provider the %s implementation, all six methods",
    (kind) => {
      const provider = requireFromString(providerText(kind)).handler();
      expect(provider).toBe(lifecycles[kind]);
      for (const m of ["check", "diff", "create", "read", "update", "delete"]) expect(typeof (provider as Record<string, unknown>)[m]).toBe("function");
    },
  );

  it("is a line, not a serialized closure (stored twice in every resource's state and written at every step)", () => {
    expect(providerText("container").length).toBeLessThan(120);
  });
});
