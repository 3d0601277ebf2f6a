import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-net`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const serve = (text: string) => ["sh", "-c", `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
const idle = ["sleep", "600"];
/** Bounded HTTP GET from inside a container (5 s). */
// busybox 1.35's wget -T segfaults: the applet timeout bounds it instead
const fetchIn = (name: string, url: string) => cs.exec(name, `timeout 5 wget -q -O - ${url}`);

describe("Networks against the kernel (bridges, veths, nftables, tc)", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  let front: Awaited<ReturnType<Networks["create"]>>;
  let back: Awaited<ReturnType<Networks["create"]>>;

  it("creates a bridge with its gateway, rules and record", async () => {
    front = await ns.create("front", { subnet: "10.231.1.0/24", nat: true });
    back = await ns.create("back", { subnet: "10.231.2.0/24" });
    const br = front.outs.bridge as string;
    expect(br).toMatch(/^ks/);
    expect(front.outs).toMatchObject({ gateway: "10.231.1.1", prefixLength: 24, status: "up" });
    expect(execFileSync("ip", ["-o", "-4", "addr", "show", "dev", br], { encoding: "utf8" })).toContain("10.231.1.1/24");
    expect(readFileSync(`/sys/class/net/${br}/ifalias`, "utf8").trim()).toBe(`${prefix}/network/front`);
    const table = execFileSync("nft", ["list", "table", "ip", prefix], { encoding: "utf8" });
    expect(table).toContain(`ip saddr 10.231.1.0/24 oifname != "${br}" masquerade`);
    expect(table).toContain(`iifname "${br}" oifname @bridges oifname != "${br}" drop`);
    expect(await N.diff("", front.outs, front.inputs)).toEqual({ changes: false });
  });

  it("two containers on one network reach each other; another network's cannot; no network is loopback only", async () => {
    const web = await cs.create("web", { command: serve("hello-front"), networks: [{ network: ns.ref(front.outs) }], stopGraceSeconds: 0 });
    await cs.create("client", { command: idle, networks: [{ network: "front" }], stopGraceSeconds: 0 });
    await cs.create("stranger", { command: idle, networks: [{ network: ns.ref(back.outs), address: "10.231.2.50" }], stopGraceSeconds: 0 });
    await cs.create("alone", { command: idle, stopGraceSeconds: 0 });
    expect(web.outs.address).toBe("10.231.1.2");
    expect(web.outs.addresses).toEqual({ front: "10.231.1.2" });
    const r = await fetchIn("client", "http://10.231.1.2/");
    expect(r.out).toContain("hello-front");
    expect(r.code).toBe(0);
    // the stranger has a route (via its gateway, the host forwards) but the isolation rule drops it
    expect((await cs.exec("stranger", "ip -o -4 addr show dev eth0")).out).toContain("10.231.2.50/24");
    const blocked = await fetchIn("stranger", "http://10.231.1.2/");
    expect(blocked.code).not.toBe(0);
    const alone = await cs.exec("alone", "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
    expect(alone.out.trim().split("\n")).toEqual(["lo"]);
  });

  it("isolation is the rule's doing: with both networks open the stranger gets through (a live change)", async () => {
    const f = await N.update("", front.outs, { ...front.inputs, isolated: false });
    const b = await N.update("", back.outs, { ...back.inputs, isolated: false });
    try {
      expect((await fetchIn("stranger", "http://10.231.1.2/")).out).toContain("hello-front");
    } finally {
      front.outs = (await N.update("", f.outs!, front.inputs)).outs!;
      back.outs = (await N.update("", b.outs!, back.inputs)).outs!;
    }
    expect((await fetchIn("stranger", "http://10.231.1.2/")).code).not.toBe(0);
  });

  it("a published port answers on 127.0.0.1", async () => {
    await cs.create("pub", { command: serve("hello-published"), networks: [{ network: "front" }], ports: [{ hostPort: 18931, containerPort: 80, hostAddress: "127.0.0.1" }], stopGraceSeconds: 0 });
    const r = await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18931/");
    expect(r.out).toContain("hello-published");
  });
});
