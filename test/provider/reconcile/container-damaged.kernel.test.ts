// A power loss right after kslice wrote a bundle's records, before they reached the disk, leaves
// them empty (ext4's delayed allocation; issue 31). Simulated here: a reboot (runtime state,
// mounts, cgroups, bridge, rules and /run gone, as container-survive does) and then the records
// of one running and one stopped container truncated to 0 bytes. boot.sh must say so (stderr: the
// unit's journal; the bundle's log; `kslice events`), start nothing from them, and the next up
// (diff finds it, update rebuilds) must rewrite them from the declaration and keep the writable layer.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, truncateSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import type { KsliceEvent } from "../../../cli/events";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { networkLifecycle as N } from "../../../provider/reconcile/network";
import { kslice } from "../../helpers/cli";
import { Containers } from "../../helpers/containers";
import { localCgroupFile, localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { Networks, sh } from "../../helpers/networks";
import { testPrefix } from "../../helpers/prefix";

const prefix = `${testPrefix}-dmg`;
const cs = new Containers(prefix);
const ns = new Networks(prefix);
const bundle = (name: string) => `/var/lib/${prefix}/containers/${name}`;
const stateOf = (id: string): { status: string; pid: number } => {
  try {
    return JSON.parse(
      execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, "state", id], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }),
    );
  } catch {
    return { status: "missing", pid: 0 };
  }
};
const records = ["config.json", "kslice.json", "start.sh", "net.sh"];
const size = (f: string) => statSync(f).size;

/** Everything a reboot takes (see container-survive.kernel.test.ts). */
async function simulateReboot(names: string[], bridge: string): Promise<void> {
  const script = [
    ...names.map((n) => `${localRuntime()} --root /run/${prefix}/runtime delete --force ${n} 2>/dev/null; umount ${bundle(n)}/rootfs 2>/dev/null`),
    `kill $(cat ${localCgroupFile(`${prefix}-supervisor`, "", "cgroup.procs")}) 2>/dev/null`,
    `sleep 0.3`,
    `for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do find "$m/${prefix}" "$m/${prefix}-supervisor" -depth -type d -exec rmdir {} + 2>/dev/null; done`,
    `rm -rf /run/${prefix}`,
    `ip link del dev ${bridge} 2>/dev/null`,
    `for f in /sys/class/net/ks*/ifalias; do case $(cat "$f" 2>/dev/null) in ${prefix}/*) d=\${f%/ifalias}; ip link del dev "\${d##*/}" ;; esac; done 2>/dev/null`,
    `nft delete table ip ${prefix} 2>/dev/null`,
    `true`,
  ].join("\n");
  expect((await sh(script, 30_000)).code).toBe(0);
  for (const n of names) expect(stateOf(n).status).toBe("missing");
  forgetReads();
}

describe("a bundle whose records a power loss emptied", () => {
  afterAll(async () => {
    await cs.cleanup(false);
    await ns.cleanup();
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("is reported by boot.sh and by kslice events, not started, and rebuilt by the next up with its writable layer kept", async () => {
    const net = await ns.create("lan", { subnet: "10.219.78.0/24" });
    const web = await cs.create("web", { command: ["sleep", "600"], networks: [{ network: ns.ref(net.outs), address: "10.219.78.10" }], stopGraceSeconds: 1 });
    const idle = await cs.create("idle", { command: ["sleep", "600"], networks: [{ network: ns.ref(net.outs) }], state: "stopped", stopGraceSeconds: 1 });
    // what the container wrote (and synced) into its writable layer
    expect((await cs.exec("web", "echo precious > /data.txt && sync && cat /data.txt")).out).toContain("precious");
    const idleAddress = idle.outs.address as string;
    expect(idleAddress).toMatch(/^10\.219\.78\./);
    const written = Object.fromEntries(records.map((f) => [f, readFileSync(`${bundle("web")}/${f}`, "utf8")]));

    await simulateReboot(["web"], net.outs.bridge as string);
    for (const f of records) truncateSync(`${bundle("web")}/${f}`, 0);
    // the stopped one: its record and net.sh (it has no config.json or start.sh before its first start)
    truncateSync(`${bundle("idle")}/kslice.json`, 0);
    truncateSync(`${bundle("idle")}/net.sh`, 0);

    const boot = await sh(`sh /var/lib/${prefix}/boot.sh`, 60_000);
    // the unit fails and its journal (boot.sh's stderr) names the container and the empty files
    expect(boot.code).not.toBe(0);
    expect(boot.out).toContain(`kslice: damaged records of container web (empty or unreadable: kslice.json config.json start.sh net.sh): not started`);
    expect(boot.out).toContain(`kslice: damaged records of container idle (empty or unreadable: kslice.json net.sh): not started`);
    expect(stateOf("web").status).toBe("missing");
    expect(readFileSync(`${bundle("web")}/log`, "utf8")).toContain("kslice: damaged records of container web");
    const evs = (await kslice(["--prefix", prefix, "events", "--json"])).stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as KsliceEvent);
    expect(
      evs
        .filter((e) => e.kind === "damaged")
        .map((e) => e.name)
        .sort(),
    ).toEqual(["idle", "web"]);
    // the writable layer is there, untouched
    expect(readFileSync(`${bundle("web")}/upper/data.txt`, "utf8")).toBe("precious\n");

    // the next up: the network comes back, each container's diff finds the damage, update rebuilds
    forgetReads();
    net.outs = (await N.update("", net.outs, net.inputs)).outs!;
    expect(await L.diff("", web.outs, web.inputs)).toEqual({ changes: true });
    expect(await L.diff("", idle.outs, idle.inputs)).toEqual({ changes: true });
    const webOuts = (await L.update("", web.outs, web.inputs)).outs!;
    const idleOuts = (await L.update("", idle.outs, idle.inputs)).outs!;
    expect(webOuts).toMatchObject({ status: "running", address: "10.219.78.10" });
    expect(idleOuts).toMatchObject({ status: "stopped", address: idleAddress });
    expect(stateOf("idle").status).toBe("missing");
    for (const f of records) expect(size(`${bundle("web")}/${f}`)).toBeGreaterThan(0);
    // rewritten from the declaration: what the create wrote
    for (const f of ["config.json", "start.sh", "net.sh"]) expect(readFileSync(`${bundle("web")}/${f}`, "utf8")).toBe(written[f]);
    expect(JSON.parse(readFileSync(`${bundle("web")}/kslice.json`, "utf8"))).toEqual(JSON.parse(written["kslice.json"]!));
    expect(JSON.parse(readFileSync(`${bundle("idle")}/kslice.json`, "utf8"))).toMatchObject({ specHash: expect.any(String) });
    expect(size(`${bundle("idle")}/net.sh`)).toBeGreaterThan(0);
    expect((await cs.exec("web", "cat /data.txt")).out).toContain("precious");
    expect((await cs.exec("web", "ip -o -4 addr show dev eth0")).out).toContain("10.219.78.10/24");

    // converged: no diff, and the events say the records were rewritten (one sample: none damaged)
    forgetReads();
    expect(await L.diff("", webOuts, web.inputs)).toEqual({ changes: false });
    expect(await L.diff("", idleOuts, idle.inputs)).toEqual({ changes: false });
    const after = (await kslice(["--prefix", prefix, "events", "--json"])).stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as KsliceEvent);
    expect(after.filter((e) => e.kind === "damaged")).toEqual([]);
    // and a boot now starts nothing twice and reports nothing
    const again = await sh(`sh /var/lib/${prefix}/boot.sh`, 60_000);
    expect(again).toEqual({ code: 0, out: "" });
  });
});
