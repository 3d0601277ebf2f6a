import { describe, expect, it } from "vitest";
import { claim, forgetClaims, ownerConflict, recordedOwner, stackOf } from "../../../provider/reconcile/ownership";
import { removeRecordScript } from "../../../provider/kernel/owners";

const a = "urn:pulumi:dev::shop::pulumi-nodejs:dynamic/kslice:Container::web";
const b = "urn:pulumi:prod::shop::pulumi-nodejs:dynamic/kslice:Container::web";

describe("ownership rules", () => {
  it("names the stack of an owner", () => {
    expect(stackOf(a)).toBe("shop/dev");
  });

  it("adopts ownerless and own objects, another owner's only with adopt", () => {
    expect(ownerConflict("container web", undefined, a, false)).toBeUndefined();
    expect(ownerConflict("container web", a, a, false)).toBeUndefined();
    expect(ownerConflict("container web", a, b, false)).toBe(`container web already belongs to ${a} (stack shop/dev); set adopt: true to take it over`);
    expect(ownerConflict("container web", a, b, true)).toBeUndefined();
  });

  it("reads an owner from a record, none from a record without one or a broken one", () => {
    expect(recordedOwner(JSON.stringify({ specHash: "x", owner: a }))).toBe(a);
    expect(recordedOwner(JSON.stringify({ specHash: "x" }))).toBeUndefined();
    expect(recordedOwner("{")).toBeUndefined();
    expect(recordedOwner(undefined)).toBeUndefined();
  });

  it("claims a value per URN; a re-check with another value releases the old one", () => {
    forgetClaims();
    expect(claim("s", a, "x")).toEqual([]);
    expect(claim("s", b, "x")).toEqual([a]);
    expect(claim("s", a, "y")).toEqual([]);
    expect(claim("s", b, "x")).toEqual([]);
    expect(claim("other scope", a, "x")).toEqual([]);
  });

  it("removes a record and the directories it leaves empty, never the top", () => {
    const script = removeRecordScript("/var/lib/p/limits/t/c.json", "/var/lib");
    expect(
      script.startsWith(
        "rm -f /var/lib/p/limits/t/c.json; rmdir /var/lib/p/limits/t 2>/dev/null; rmdir /var/lib/p/limits 2>/dev/null; rmdir /var/lib/p 2>/dev/null; ",
      ),
    ).toBe(true);
    // then the removal on disk: every directory it may have changed that is still there, /var/lib included
    expect(script).toContain("for f in /var/lib/p/limits/t/c.json /var/lib/p/limits/t /var/lib/p/limits /var/lib/p /var/lib; do");
  });
});
