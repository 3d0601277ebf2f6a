// A provider killed in the middle of a create (issue 11): the bundle carries its "creating" marker,
// the next create of the same declaration converges to a running container, and deletes (of the
// container, or of the Host with no resource left for the bundle) leave nothing behind. The kill
// is a real SIGKILL of a provider process of its own, paused at a named step by the test hook.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";
import { sleep } from "../../helpers/procs";
import { repoRoot } from "../../helpers/stack";

const prefix = `${testPrefix}-crash`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const bundle = (name: string) => `/var/lib/${prefix}/containers/${name}`;
const tmp = mkdtempSync(join(tmpdir(), "kslice-crash-"));

/** Runs a create in a provider process of its own, SIGKILLs it once it pauses at `step`. */
async function killedAt(step: string, inputs: Record<string, unknown>): Promise<void> {
  const flag = join(tmp, `${step}-${String(inputs.name)}`);
  const child = spawn(join(repoRoot, "node_modules", ".bin", "vite-node"), [join(repoRoot, "test", "helpers", "create-child.ts"), JSON.stringify(inputs)], {
    cwd: repoRoot,
    env: { ...process.env, KSLICE_TEST_PAUSE_AT: step, KSLICE_TEST_PAUSE_FILE: flag },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  for (let i = 0; i < 600 && !existsSync(flag) && child.exitCode === null; i++) await sleep(100);
  expect(existsSync(flag), `the create never reached step ${step}: ${stderr}`).toBe(true);
  child.kill("SIGKILL");
  await exited;
  forgetReads(); // another process changed the host: the next create is another engine run
}

describe("a provider killed mid-create", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    rmSync(tmp, { recursive: true, force: true });
    expect(leaksOf(prefix)).toEqual([]);
  });

  let net: Awaited<ReturnType<Networks["create"]>>;

  it.each([
    ["bundle", 11],
    ["mount", 12],
    ["spec", 13],
    ["start", 14],
  ])("killed after step %s: the bundle is marked incomplete, the next create of the same declaration converges", async (step, host) => {
    net ??= await ns.create("lan", { subnet: "10.219.78.0/24" });
    const name = `k-${step}`;
    const args = { command: ["sleep", "600"], networks: [{ network: ns.ref(net.outs), address: `10.219.78.${host}` }], stopGraceSeconds: 1 };
    await killedAt(step, { host: cs.host, name, ...args });
    expect(readFileSync(`${bundle(name)}/creating`, "utf8")).toBe(name);

    const c = await cs.create(name, args);
    expect(c.outs).toMatchObject({ status: "running", address: `10.219.78.${host}` });
    expect(existsSync(`${bundle(name)}/creating`)).toBe(false);
    expect((await cs.exec(name, "ip -o -4 addr show dev eth0")).out).toContain(`10.219.78.${host}/24`);
    // one claim, one veth: what the killed create made is gone, not doubled
    expect((await sh(`grep -rl ${name} /var/lib/${prefix}/networks/lan/addresses | wc -l`)).out.trim()).toBe("1");
    expect((await sh(`grep -l ${prefix}/container/${name}/ /sys/class/net/ks*/ifalias | wc -l`)).out.trim()).toBe("1");
    expect(await L.diff("", c.outs, c.inputs)).toEqual({ changes: false });
  });

  it("Host delete is not blocked by a bundle a killed create left, and removes it", async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await killedAt("start", { host: cs.host, name: "orphan", command: ["sleep", "600"], stopGraceSeconds: 1 });
    expect(existsSync(`${bundle("orphan")}/creating`)).toBe(true);
    expect((await sh(`runc --root /run/${prefix}/runtime state orphan`)).out).toContain('"running"');
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });
});
