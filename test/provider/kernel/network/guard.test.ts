// The anti-spoofing scripts' shell and parsing, with a stand-in nft on PATH (it prints a listing
// nft 1.0.6 printed for such a table, or records the transaction it is given). The kernel test
// network-spoofing.kernel.test.ts runs the same scripts against the real nft and real attacks.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseNetProbe, type Attachment } from "../../../../provider/kernel/network/attach";
import { guardApplyScript, guardElements, guardListing, guardRemoveScript } from "../../../../provider/kernel/network/guard";

const bin = mkdtempSync(join(tmpdir(), "kslice-guard-"));
afterAll(() => rmSync(bin, { recursive: true, force: true }));
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
const run = (script: string) => {
  try {
    return { code: 0, out: execFileSync("sh", ["-c", script], { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] }), err: "" };
  } catch (e) {
    const x = e as { status: number; stdout?: string; stderr?: string };
    return { code: x.status, out: String(x.stdout ?? ""), err: String(x.stderr ?? "") };
  }
};

const listing = [
  "table bridge p {",
  "\tset guarded {",
  "\t\ttype ifname",
  '\t\telements = { "ks01",',
  '\t\t\t     "ks02" }',
  "\t}",
  "",
  "\tset mac {",
  "\t\ttype ifname . ether_addr",
  '\t\telements = { "ks01" . 02:42:0a:00:00:02,',
  '\t\t\t     "ks02" . 02:42:0a:00:00:03 }',
  "\t}",
  "",
  "\tset ip4 {",
  "\t\ttype ifname . ipv4_addr",
  '\t\telements = { "ks01" . 10.0.0.2, "ks02" . 10.0.0.3 }',
  "\t}",
  "",
  "\tchain guard {",
  '\t\tiifname . ether saddr != @mac counter packets 0 bytes 0 drop comment "k:base 1/7 0123abcd"',
  "\t}",
  "}",
].join("\n");

const att = (veth: string, address: string, mac: string, guard = true): Attachment =>
  ({ index: 0, network: "n", bridge: "ksbr", address, bits: 24, gateway: "10.0.0.1", veth, alias: "", mac, guard }) as Attachment;

describe("guardListing reads every set's elements", () => {
  it("prints one line per element, with its set, multi-line and one-line element lists alike", () => {
    writeFileSync(join(bin, "nft"), `#!/bin/sh\ncat <<'EOF'\n${listing}\nEOF\n`, { mode: 0o755 });
    expect(run(guardListing("p")).out.trim().split("\n")).toEqual([
      'G guarded "ks01"',
      'G guarded "ks02"',
      'G mac "ks01" . 02:42:0a:00:00:02',
      'G mac "ks02" . 02:42:0a:00:00:03',
      'G ip4 "ks01" . 10.0.0.2',
      'G ip4 "ks02" . 10.0.0.3',
    ]);
  });

  it("prints nothing when there is no table", () => {
    writeFileSync(join(bin, "nft"), "#!/bin/sh\necho 'Error: No such file or directory' >&2; exit 1\n", { mode: 0o755 });
    expect(run(guardListing("p"))).toMatchObject({ code: 0, out: "" });
  });
});

describe("a container's probe sees its anti-spoofing elements as drift when they are not exactly its own", () => {
  // a probe's other lines as a healthy container's would be
  const healthy = (a: Attachment) => [
    `host 0 ksbr/0x1003/7`,
    "in 0 ",
    "L 2: eth0@if7: <UP>",
    `A 2: eth0    inet ${a.address}/24`,
    `route default via 10.0.0.1 dev eth0`,
  ];
  const guarded = att("ks01", "10.0.0.2", "02:42:0a:00:00:02");
  const lines = ['G guarded "ks01"', 'G mac "ks01" . 02:42:0a:00:00:02', 'G ip4 "ks01" . 10.0.0.2'];
  const drift = (a: Attachment, g: string[]) => parseNetProbe([...healthy(a), ...g, 'G ip4 "ks99" . 10.0.0.9'].join("\n"), "web", [a], []).attachments;

  it.each([
    ["all three elements", lines, []],
    ["the address missing (a flushed set)", lines.slice(0, 2), [0]],
    ["not in @guarded", lines.slice(1), [0]],
    ["an old address still allowed", [...lines, 'G ip4 "ks01" . 10.0.0.7'], [0]],
    ["another MAC", [lines[0]!, 'G mac "ks01" . 02:42:0a:00:00:09', lines[2]!], [0]],
  ])("guarded, %s", (_, g, want) => expect(drift(guarded, g)).toEqual(want));

  it("an opted-out interface has none: elements left are drift", () => {
    const open = { ...guarded, guard: false };
    expect(drift(open, [])).toEqual([]);
    expect(drift(open, lines)).toEqual([0]);
  });
});

describe("guardApplyScript and guardRemoveScript (the stand-in nft records its transaction)", () => {
  const tx = join(bin, "tx");
  const record = join(bin, "guard.nft");
  const nft = (fail: boolean) =>
    writeFileSync(
      join(bin, "nft"),
      `#!/bin/sh\n[ "$1" = list ] && exit 0\ncat > ${tx}\n${fail ? "echo 'Error: Could not process rule' >&2; exit 1" : "exit 0"}\n`,
      { mode: 0o755 },
    );
  const old = guardElements("p", [{ veth: "ks01", mac: "02:42:0a:00:00:02", address: "10.0.0.2" }]);
  const now = guardElements("p", [{ veth: "ks01", mac: "02:42:0a:00:00:07", address: "10.0.0.7" }]);

  it("adds and deletes the recorded elements, then adds the wanted ones, in one transaction; the record then holds the wanted", () => {
    nft(false);
    writeFileSync(record, `${old.join("\n")}\n`);
    expect(run(guardApplyScript("p", record, now)).code).toBe(0);
    const t = readFileSync(tx, "utf8")
      .split("\n")
      .filter((l) => /^(add|delete) element/.test(l));
    // the record holds old and new (sorted, once each: the same veth is in @guarded in both) by then: both are added and deleted before the wanted are added
    const both = [...new Set([...old, ...now])].sort();
    expect(t).toEqual([...both.map((e) => `add ${e}`), ...both.map((e) => `delete ${e}`), ...now.map((e) => `add ${e}`)]);
    expect(readFileSync(record, "utf8").trim().split("\n")).toEqual(now);
  });

  it("a failed transaction says so and leaves old and new recorded, so the next one removes both", () => {
    nft(true);
    writeFileSync(record, `${old.join("\n")}\n`);
    const r = run(guardApplyScript("p", record, now));
    expect(r.code).toBe(1);
    expect(r.err).toContain("anti-spoofing: cannot set the elements in table bridge p: Error: Could not process rule");
    expect(readFileSync(record, "utf8").trim().split("\n").sort()).toEqual([...new Set([...old, ...now])].sort());
  });

  it("nothing wanted: the recorded ones are removed, and with them the record; nothing recorded: no nft at all", () => {
    nft(false);
    writeFileSync(record, `${old.join("\n")}\n`);
    expect(run(guardApplyScript("p", record, [])).code).toBe(0);
    expect(readFileSync(tx, "utf8").split("\n").filter(Boolean)).toEqual([...old.map((e) => `add ${e}`), ...old.map((e) => `delete ${e}`)]);
    expect(run(`test -e ${record}`).code).toBe(1);
    rmSync(tx);
    expect(run(guardRemoveScript("p", record)).code).toBe(0);
    expect(run(`test -e ${tx}`).code).toBe(1);
  });
});
