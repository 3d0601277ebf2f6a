import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { leaksOf } from "../helpers/leaks";
import { sh } from "../helpers/networks";
import { testPrefix } from "../helpers/prefix";
import { TestStack } from "../helpers/stack";

const prefix = `${testPrefix}-e2k`;
const port = 18827;
const published = () => sh(`timeout 5 busybox wget -q -O - http://127.0.0.1:${port}/`);

/** One TCP connect to the published port: "connected", the error's code (ECONNREFUSED), or "timeout" after 2 s. */
function attempt(): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const done = (r: string) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(2000, () => done("timeout"));
    s.on("connect", () => done("connected"));
    s.on("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

// A container killed outside kslice (issue 25): its published port refuses connections (the
// supervisor takes its DNAT away) instead of sending them to an address nobody answers, and a
// plain preview names what differs (status) in the diff's detail.
describe("A container killed behind kslice's back", () => {
  const stack = new TestStack("test/fixtures/programs", {
    program: "dist/test/fixtures/programs/killed-port/index.js",
    config: { "kslice:prefix": prefix, "kslice:port": String(port) },
  });
  afterAll(async () => {
    await stack.run("destroy");
    await stack.dispose();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("refuses connections on its port, and preview without --refresh names status in the diff", async () => {
    const r = await stack.run("up");
    expect(r.ok, r.stderr).toBe(true);
    expect((await published()).out).toContain("hello-killed");
    const pid = (r.json!.outputs as { pid: number }).pid;
    execFileSync("kill", ["-9", String(pid)]);
    // a few attempts while the supervisor (once a second) notices; each bounded by 2 s
    const rules = () => execFileSync("nft", ["list", "chain", "ip", prefix, "ports"], { encoding: "utf8" });
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      seen.push(await attempt());
      if (seen[seen.length - 1] === "ECONNREFUSED" && !rules().includes(`dport ${port}`)) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(seen[seen.length - 1], seen.join(", ")).toBe("ECONNREFUSED");
    expect(rules()).not.toContain(`dport ${port}`);

    const p = await stack.run("preview");
    expect(p.ok, p.stderr).toBe(true);
    expect(p.json!.summary).toMatchObject({ update: 1 });
    // the property the kernel contradicts, as the provider's detailed diff names it (diff-detail.ts)
    expect(p.stderr).toMatch(/Container::web\]\n\s+[-~] status: "running"/);

    const up = await stack.run("up");
    expect(up.ok, up.stderr).toBe(true);
    expect((await published()).out).toContain("hello-killed");
    expect(await attempt()).toBe("connected");
    const still = await stack.run("preview", "--expect-no-changes");
    expect(still.ok, still.stderr).toBe(true);
  });
});
