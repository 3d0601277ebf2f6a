import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostLayout } from "../../../../provider/kernel/container/layout";
import { parseProbeAll, probeAllNetScript } from "../../../../provider/kernel/network/probe-all";

// The script run by sh against a fake host (bundles in a temp dir, nsenter/tc/nft as functions):
// which namespaces it enters, and that its size does not grow with the number of containers.
describe("probeAllNetScript", () => {
  it("enters the namespace of each container whose net.sh joins networks, by its init.pid, in one script of a fixed size", async () => {
    // a fake host: two bundles, one with networks; "nsenter" is a function that says where it went
    const dir = mkdtempSync(join(tmpdir(), "kslice-probe-all-"));
    const layout = { ...hostLayout("kslice"), containers: dir };
    mkdirSync(join(dir, "web"));
    mkdirSync(join(dir, "alone"));
    mkdirSync(join(dir, "shaped"));
    writeFileSync(join(dir, "web", "net.sh"), "inns() { nsenter; }\n");
    writeFileSync(join(dir, "shaped", "net.sh"), "inns() { nsenter; }\n");
    writeFileSync(join(dir, "alone", "net.sh"), "# no networks\n");
    // each entered through its bundle's init.pid (the runtime writes it); one without a pid file is not entered
    for (const [name, pid] of [
      ["web", 42],
      ["alone", 43],
      ["shaped", 44],
    ] as const)
      writeFileSync(join(dir, name, "init.pid"), `${pid}`);
    mkdirSync(join(dir, "unstarted"));
    writeFileSync(join(dir, "unstarted", "net.sh"), "inns() { nsenter; }\n");
    // in pid 44's namespace eth0's root qdisc is a tbf (an egress limit): only there is tc run
    const tbfLink = "2: eth0@if9: <BROADCAST,UP> mtu 1500 qdisc tbf state UP";
    const fake = [
      `nsenter() { case "$2" in`,
      `  ip) if [ "$1" = --net=/proc/44/ns/net ]; then echo ${JSON.stringify(tbfLink)}; else echo "entered $1"; fi ;;`,
      `  tc) echo "qdisc tbf 8001: dev eth0 root rate 8Mbit ($1)" ;;`,
      `esac; }; tc() { :; }; nft() { :; }\n`,
    ].join("\n");
    try {
      const script = probeAllNetScript("kslice", layout);
      const out = execFileSync("sh", ["-c", fake + script], { encoding: "utf8" });
      // split between shells, one per CPU: in no set order
      expect([...parseProbeAll(out).namespaces].sort()).toEqual([
        ["shaped", [`L ${tbfLink}`, "Q qdisc tbf 8001: dev eth0 root rate 8Mbit (--net=/proc/44/ns/net)"]],
        ["web", ["L entered --net=/proc/42/ns/net"]],
      ]);
      expect(out.match(/^@@tc /gm)).toHaveLength(1);
      // a fixed number of nft reads whatever the count of containers: the prefix's ports chains (ip
      // and ip6), other tables' DNAT rules (a published port shadowed by another prefix's rule is
      // drift), the anti-spoofing sets' elements, and the ingress sets' and counter map's elements
      // (one loop, one map), and the ip6 table's (listed whole: its ingress sets for dual-stack containers)
      expect(script.match(/nft list/g)).toHaveLength(7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
