import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitsLifecycle } from "../../provider/reconcile/limits";
import { kslice } from "../helpers/cli";
import { Containers } from "../helpers/containers";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";

const prefix = `${testPrefix}-rep`;
const cs = new Containers(prefix);
const dir = mkdtempSync(join(tmpdir(), "kslice-report-"));

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString()).toBe("PNG");
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe("kslice report", () => {
  beforeAll(async () => {
    const c = await limitsLifecycle.check({}, { host: cs.host, name: "tenant", limits: { memory: { max: "256Mi" } } });
    await limitsLifecycle.create(c.inputs!);
    await cs.create("spin", {
      parent: "tenant",
      command: ["sh", "-c", "while :; do :; done"],
      limits: { cpu: { max: 0.2 }, memory: { max: "64Mi" }, pids: { max: 16 } },
    });
    await cs.create("calm", { command: ["sleep", "600"] });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cs.cleanup(false);
    await limitsLifecycle.delete("", { host: cs.host, name: "tenant", onDeleteWithProcesses: "kill" }).catch(() => undefined);
    await cs.deleteHost();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("writes an HTML page with one chart per container and per budget", async () => {
    const out = join(dir, "report.html");
    const r = await kslice(["--prefix", prefix, "report", "--out", out, "--seconds", "2", "--interval", "0.5"]);
    expect(r.code).toBe(0);
    const html = readFileSync(out, "utf8");
    const charts = [...html.matchAll(/<svg [^>]*class="chart (container|budget)" data-name="([^"]+)" width="(\d+)" height="(\d+)"/g)];
    expect(charts.map((m) => `${m[1]} ${m[2]}`).sort()).toEqual(["budget tenant", "container calm", "container spin"]);
    for (const m of charts) {
      expect(Number(m[3])).toBeGreaterThanOrEqual(200);
      expect(Number(m[4])).toBeGreaterThanOrEqual(150);
      expect(Number(m[3]) * Number(m[4])).toBeLessThan(1000 * 1000);
    }
    // 4 samples of usage (2 s every 0.5 s), and spin's limits drawn: memory 64Mi, 20% CPU, 16 tasks
    const spin = html.slice(html.indexOf('class="chart container" data-name="spin"'));
    const usage = /<polyline class="usage"[^>]* points="([^"]+)"/.exec(spin)![1]!;
    expect(usage.split(" ")).toHaveLength(4);
    expect(spin.slice(0, spin.indexOf("</svg>")).match(/class="limit"/g)).toHaveLength(3);
    expect(spin).toMatch(/memory: now [^,]+, sampled peak [^,]+, limit 64Mi/);
    expect(spin).toMatch(/limit 20%/);
    // the budget's memory panel stacks its member's memory
    const tenant = html.slice(html.indexOf('class="chart budget" data-name="tenant"'));
    expect([...tenant.slice(0, tenant.indexOf("</svg>")).matchAll(/<polygon class="stack" data-name="([^"]+)"/g)].map((m) => m[1])).toEqual(["spin"]);
  });

  it("renders as an image: SVG and PNG of sane dimensions", async () => {
    const svg = join(dir, "report.svg");
    expect((await kslice(["--prefix", prefix, "report", "--out", svg, "--seconds", "1", "--interval", "0.5"])).code).toBe(0);
    const png = join(dir, "from-svg.png");
    execFileSync("rsvg-convert", ["--output", png, svg]); // fails on malformed SVG
    const fromSvg = pngSize(png);
    expect(fromSvg.width).toBe(900); // two columns of 440 + 10
    expect(fromSvg.height).toBeGreaterThanOrEqual(2 * 300); // three charts: two rows
    const direct = join(dir, "report.png");
    expect((await kslice(["--prefix", prefix, "report", "--out", direct, "--seconds", "1", "--interval", "0.5"])).code).toBe(0);
    expect(pngSize(direct)).toEqual(fromSvg);
  });

  it("refuses an unknown output type", async () => {
    const r = await kslice(["--prefix", prefix, "report", "--out", join(dir, "x.pdf")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out FILE.html, FILE.svg or FILE.png; got ".*x.pdf"/);
  });
});
