import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import { forgetClaims } from "../../../provider/reconcile/ownership";
import { Containers } from "../../helpers/containers";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

// Two prefixes of this one machine (issue 25): host ports and subnets belong to the machine, so a
// second prefix cannot publish a port or route a subnet the first one holds, and a DNAT of another
// table on a port of ours is drift that names that table.
const A = `${testPrefix}-xpa`;
const B = `${testPrefix}-xpb`;
const owner = (stack: string, type: string, name: string) => `urn:pulumi:${stack}::xp::kslice:index:${type}::${name}`;
const serve = (text: string) => ["sh", "-c", `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
const csA = new Containers(A);
const csB = new Containers(B);
const nsA = new Networks(A);
const nsB = new Networks(B);
const web = (text: string, hostPort: number, network: string, stack: string) => ({
  command: serve(text),
  networks: [{ network }],
  ports: [{ hostPort, containerPort: 80 }],
  stopGraceSeconds: 0,
  owner: owner(stack, "Container", "web"),
});

describe("Host ports and subnets across prefixes of one machine", () => {
  afterAll(async () => {
    await csA.cleanup(false);
    await csB.cleanup(false);
    await nsA.cleanup();
    await nsB.cleanup();
    await csA.deleteHost();
    await csB.deleteHost();
    expect(leaksOf(A)).toEqual([]);
    expect(leaksOf(B)).toEqual([]);
  });

  let webA: Awaited<ReturnType<Containers["create"]>>;

  it("refuses at preview a subnet that overlaps another prefix's network, naming it", async () => {
    await nsA.create("xa", { subnet: "10.251.25.0/24", owner: owner("sa", "Network", "xa") });
    // another stack's program: its own provider process, which holds none of stack sa's claims
    forgetClaims();
    const lap = await N.check({}, { host: nsB.host, name: "xb", subnet: "10.251.25.128/25", owner: owner("sb", "Network", "xb") });
    expect(lap.failures).toEqual([
      {
        property: "subnet",
        reason: expect.stringMatching(
          new RegExp(`^got "10\\.251\\.25\\.128/25", which overlaps 10\\.251\\.25\\.0/24 of network xa under prefix ${A} of this machine \\(stack xp/sa, `),
        ),
      },
    ]);
    await nsB.create("xb", { subnet: "10.251.26.0/24", owner: owner("sb", "Network", "xb") });
  });

  it("refuses at preview a host port another prefix publishes, naming the container, its prefix and stack", async () => {
    webA = await csA.create("web", web("hello-a", 18825, "xa", "sa"));
    expect((await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18825/")).out).toContain("hello-a");
    forgetReads();
    const taken = await L.check({}, { host: csB.host, name: "web", ...web("hello-b", 18825, "xb", "sb") });
    expect(taken.failures).toEqual([
      {
        property: "ports.0.hostPort",
        reason: expect.stringMatching(
          new RegExp(`^got tcp 0\\.0\\.0\\.0:18825, already published by container web under prefix ${A} of this machine \\(stack xp/sa, `),
        ),
      },
    ]);
  });

  it("refuses the claim itself when a create gets past a stale check (the host-wide lock), leaving nothing", async () => {
    const ok = await L.check({}, { host: csB.host, name: "web", ...web("hello-b", 18826, "xb", "sb") });
    expect(ok.failures).toBeUndefined();
    const raced = { ...ok.inputs!, ports: [{ hostPort: 18825, containerPort: 80 }] };
    await expect(L.create(raced)).rejects.toThrow(
      new RegExp(`ports\\[0\\]: tcp 0\\.0\\.0\\.0:18825 is already published by container web under prefix ${A} \\(owner urn:pulumi:sa::`),
    );
    expect((await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18825/")).out).toContain("hello-a");
  });

  it("sees a DNAT of another prefix's table on its port as drift, and up names that table", async () => {
    const webB = await csB.create("web", web("hello-b", 18826, "xb", "sb"));
    forgetReads();
    expect(await L.diff(webA.id, webA.outs, webA.inputs)).toEqual({ changes: false });
    // what kslice before host-wide claims let a second prefix do: its own rule for the same port
    execFileSync("nft", [
      "add",
      "rule",
      "ip",
      B,
      "ports",
      "tcp",
      "dport",
      "18825",
      "dnat",
      "to",
      `${webB.outs.address as string}:80`,
      "comment",
      '"c:web 9/9 shadow"',
    ]);
    try {
      forgetReads();
      expect(await L.diff(webA.id, webA.outs, webA.inputs)).toEqual({ changes: true });
      expect((await L.read(webA.id, webA.outs)).props!.ports).toEqual([]);
      await expect(L.update(webA.id, webA.outs, webA.inputs)).rejects.toThrow(
        new RegExp(`ports\\[0\\]: tcp 0\\.0\\.0\\.0:18825 is also DNATed by table ip ${B}: tcp dport 18825 dnat to ${webB.outs.address as string}:80`),
      );
    } finally {
      const handle = /dport 18825 .* # handle (\d+)/.exec(execFileSync("nft", ["-a", "list", "chain", "ip", B, "ports"], { encoding: "utf8" }))?.[1];
      if (handle) execFileSync("nft", ["delete", "rule", "ip", B, "ports", "handle", handle]);
    }
    forgetReads();
    expect(await L.diff(webA.id, webA.outs, webA.inputs)).toEqual({ changes: false });
    expect((await sh("timeout 5 busybox wget -q -O - http://127.0.0.1:18825/")).out).toContain("hello-a");
  });
});
