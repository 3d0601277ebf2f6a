import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { linkLocalFor } from "../../provider/kernel/network/names";
import { Containers } from "../helpers/containers";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefixA = `${testPrefix}-m6a`;
const prefixB = `${testPrefix}-m6b`;
const ends = {
  a: { prefix: prefixA, subnet6: "fd53:1::/64", gateway6: "fd53:1::1" },
  b: { prefix: prefixB, subnet6: "fd53:2::/64", gateway6: "fd53:2::1" },
};

/** An anti-spoofing set (`addr6`, `na6`) of a prefix's bridge table (empty when the table is gone). */
const guardSet = (prefix: string, set = "addr6") => {
  try {
    return execFileSync("nft", ["list", "set", "bridge", prefix, set], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
};
/** The address claims of network `net` on a prefix. */
const claims = (prefix: string) => {
  const dir = `/var/lib/${prefix}/networks/net/addresses`;
  return existsSync(dir) ? readdirSync(dir) : [];
};

// A container on a dual-stack Network moves between two prefixes of this machine (two hosts to
// kslice, each with its own network on its own prefixes): on the target it has an IPv6 address of
// the target's network (the lowest free one, or its declared address6 there), its anti-spoofing
// element is on the target's bridge table and gone from the source's, its IPv6 default route
// works (it reaches the target's gateway6), and nothing of it is left on the source.
describe("a migration of a container on a dual-stack network", () => {
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/migrate/index.js",
    config: {
      "kslice:aPrefix": prefixA,
      "kslice:bPrefix": prefixB,
      "kslice:network": "true",
      "kslice:aSubnet": "10.253.1.0/24",
      "kslice:aSubnet6": ends.a.subnet6,
      "kslice:bSubnet": "10.253.2.0/24",
      "kslice:bSubnet6": ends.b.subnet6,
      "kslice:hostPort": "0",
      "kslice:at": "a",
    },
  });
  afterAll(async () => {
    await stack.dispose();
    expect(leaksOf(prefixA)).toEqual([]);
    expect(leaksOf(prefixB)).toEqual([]);
  });

  /** Moves box to `at` and checks it there and its absence on the other end; returns its IPv6 address. */
  async function moveTo(at: "a" | "b", from: "a" | "b"): Promise<string> {
    stack.config["kslice:at"] = at;
    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect(up.stderr).toMatch(/migrated from .* to .*\(cold\)/);
    const address6 = up.json!.outputs.address6 as string;
    const box = new Containers(ends[at].prefix);
    // the address is the target's, on the container's interface with its IPv6 default route
    expect((await box.exec("box", "ip -6 addr show dev eth0 scope global")).out).toContain(`inet6 ${address6}/64`);
    expect((await box.exec("box", "ip -6 route show default")).out).toContain(`via ${ends[at].gateway6} dev eth0`);
    expect(await box.exec("box", `ping -6 -c1 -W2 ${ends[at].gateway6}`)).toMatchObject({ code: 0 });
    const linkLocal = linkLocalFor((await box.exec("box", "cat /sys/class/net/eth0/address")).out.trim());
    expect(guardSet(ends[at].prefix)).toContain(` . ${address6}`);
    expect(guardSet(ends[at].prefix)).toContain(` . ${linkLocal}`);
    expect(claims(ends[at].prefix)).toContain(address6);
    // the source keeps nothing of it: no element (it was the only container there), no claim, no bundle, cgroup or interface
    expect(guardSet(ends[from].prefix)).toContain("type ifname . ipv6_addr");
    expect(guardSet(ends[from].prefix)).not.toContain("elements");
    expect(guardSet(ends[from].prefix, "na6")).not.toContain("elements");
    expect(claims(ends[from].prefix)).toEqual([]);
    expect(leaksOf(ends[from].prefix).filter((l) => /box|container/.test(l))).toEqual([]);
    return address6;
  }

  it("moved to B, it gets an address of B's prefix; moved back with a static address6, it has that one on A", async () => {
    const first = await stack.run("up");
    expect(first.ok, first.stderr).toBe(true);
    const onA = first.json!.outputs.address6 as string;
    expect(onA).toBe("fd53:1::2");
    expect(guardSet(prefixA)).toContain(` . ${onA}`);

    expect(await moveTo("b", "a")).toBe("fd53:2::2");

    stack.config["kslice:aAddress6"] = "fd53:1::99";
    expect(await moveTo("a", "b")).toBe("fd53:1::99");
  });
});
