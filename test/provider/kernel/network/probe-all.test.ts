import { describe, expect, it } from "vitest";
import { parseNetProbe, type Attachment } from "../../../../provider/kernel/network/attach";
import { parseProbeAll, probeTextFor } from "../../../../provider/kernel/network/probe-all";

const att = (index: number, veth: string, bridge: string, address: string): Attachment => ({
  index,
  network: `n${index}`,
  bridge,
  address,
  bits: 24,
  gateway: address.replace(/\d+$/, "1"),
  veth,
  alias: "",
  mac: "",
  egress: index ? 8_000_000 : undefined,
  guard: false,
});

// the host's view of two containers: "web" as declared, "idle" with its veth taken off its bridge
const out = [
  "@@veths",
  "ksaaa 0x1003 17",
  "ksbbb 0x1003 19",
  "ksccc 0x1002 21",
  "@@brif",
  "br0 ksaaa",
  "br1 ksbbb",
  "@@localnet",
  "br0 1",
  "br1 0",
  "@@qdisc",
  "qdisc noqueue 0: dev ksaaa root refcnt 2",
  "qdisc noqueue 0: dev ksbbb root refcnt 2",
  "@@nft",
  "c:web tcp 127.0.0.1:8080",
  "@@ns web 4242",
  "L 1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536",
  "L 2: eth0@if17: <BROADCAST,UP> mtu 1500",
  "L 3: eth1@if19: <BROADCAST,UP> mtu 1500",
  "A 2: eth0    inet 10.232.40.2/24 brd 10.232.40.255 scope global eth0",
  "A 3: eth1    inet 10.232.41.2/24 brd 10.232.41.255 scope global eth1",
  "route default via 10.232.40.1 dev eth0",
  "Q qdisc tbf 8001: dev eth1 root refcnt 2 rate 8Mbit burst 20000b lat 50ms",
  "@@ns idle 4343",
  "L 2: eth0@if21: <BROADCAST,UP> mtu 1500",
  "A 2: eth0    inet 10.232.40.3/24 scope global eth0",
  "route default via 10.232.40.1 dev eth0",
  "",
].join("\n");

describe("probeTextFor", () => {
  it("gives each container its part in probeNetScript's format: drift is found as a probe of its own finds it", () => {
    const view = parseProbeAll(out);
    const web = [att(0, "ksaaa", "br0", "10.232.40.2"), att(1, "ksbbb", "br1", "10.232.41.2")];
    const port = { protocol: "tcp" as const, hostAddress: "127.0.0.1", hostPort: 8080, containerPort: 80, address: "10.232.40.2" };
    const text = probeTextFor(view, "web", web, [port])!;
    expect(text).toContain("host 0 br0/0x1003/17");
    expect(text).toContain("localnet br0 1");
    expect(parseNetProbe(text, "web", web, [port]).attachments).toEqual([]);
    const idle = [att(0, "ksccc", "br0", "10.232.40.3")];
    expect(parseNetProbe(probeTextFor(view, "idle", idle, [])!, "idle", idle, [])).toEqual({ attachments: [0], ports: false });
    expect(probeTextFor(view, "gone", idle, [])).toBeUndefined();
    // the pid whose namespace was entered: a caller with another pid (a restarted init) reads its own
    expect([view.pids.get("web"), view.pids.get("idle")]).toEqual([4242, 4343]);
  });

  it("adds a later @@tc block's qdiscs to the namespace entered with the same pid, and drops another pid's", () => {
    const shaped = [att(0, "ksaaa", "br0", "10.232.40.2"), att(1, "ksbbb", "br1", "10.232.41.2")];
    const base = out.replace("Q qdisc tbf 8001: dev eth1 root refcnt 2 rate 8Mbit burst 20000b lat 50ms\n", "");
    const text = (extra: string) => probeTextFor(parseProbeAll(base + extra), "web", shaped, [])!;
    // eth1's limit of 8 Mbit declared: missing from the listing, it is drift
    expect(parseNetProbe(text(""), "web", shaped, []).attachments).toEqual([1]);
    expect(
      parseNetProbe(text("@@tc web 4242\nQ qdisc tbf 8001: dev eth1 root refcnt 2 rate 8Mbit burst 20000b lat 50ms\n"), "web", shaped, []).attachments,
    ).toEqual([]);
    expect(
      parseNetProbe(text("@@tc web 4242\nQ qdisc tbf 8001: dev eth1 root refcnt 2 rate 4Mbit burst 20000b lat 50ms\n"), "web", shaped, []).attachments,
    ).toEqual([1]);
    // another pid (an init restarted between the two): not this namespace's qdiscs
    expect(
      parseNetProbe(text("@@tc web 999\nQ qdisc tbf 8001: dev eth1 root refcnt 2 rate 8Mbit burst 20000b lat 50ms\n"), "web", shaped, []).attachments,
    ).toEqual([1]);
  });

  it("gives a container the guard, qdisc and ingress lines of its own veth and address only, not a neighbour's whose address starts the same", () => {
    const mine = att(0, "ksaaa", "br0", "10.232.40.2");
    const view = parseProbeAll(
      [
        "@@qdisc",
        "qdisc noqueue 0: dev ksaaa2 root refcnt 2",
        "qdisc tbf 8001: dev ksaaa root refcnt 2 rate 8Mbit",
        "@@guard",
        'G ip4 "ksaaa2" . 10.232.40.23',
        'G ip4 "ksaaa" . 10.232.40.2',
        'G guarded "ksaaa"',
        "@@ingress",
        'I ingressed 10.232.40.23 comment "n"',
        'I ingressed 10.232.40.2 comment "m"',
        "I allow 10.232.40.2 . 10.0.0.0/8 . tcp . 80",
        "I allow 10.232.40.23 . 10.0.0.0/8 . tcp . 80",
        "@@ns web 42",
        "L 2: eth0@if17: <UP>",
        "",
      ].join("\n"),
    );
    const text = probeTextFor(view, "web", [mine], [])!.split("\n");
    expect(text).toContain("in 0 qdisc tbf 8001: dev ksaaa root refcnt 2 rate 8Mbit");
    expect(text.filter((l) => l.startsWith("G "))).toEqual(['G ip4 "ksaaa" . 10.232.40.2', 'G guarded "ksaaa"']);
    expect(text.filter((l) => l.startsWith("I "))).toEqual(['I ingressed 10.232.40.2 comment "m"', "I allow 10.232.40.2 . 10.0.0.0/8 . tcp . 80"]);
  });
});
