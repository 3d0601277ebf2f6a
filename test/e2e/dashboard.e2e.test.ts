import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes } from "../../cli/format";
import type { KsliceEvent } from "../../cli/events";
import type { PrefixView } from "../../cli/model";
import { writeMoveRecord } from "../../provider/kernel/container/migrate";
import { hostLifecycle } from "../../provider/reconcile/host";
import { LocalTransport } from "../../provider/transport/local";
import { cliPath, kslice } from "../helpers/cli";
import { Containers } from "../helpers/containers";
import { localCgroupFile } from "../helpers/host";
import { leaksOf } from "../helpers/leaks";
import { testPrefix } from "../helpers/prefix";

// `kslice dashboard` against real containers of this machine, read by headless Chromium (Debian's
// package, driven by playwright-core: no browser download). A second host that refuses SSH stands
// for an unreachable one. KSLICE_DASHBOARD_SCREENSHOT=1 writes docs/dashboard.png from this run.
const prefix = `${testPrefix}-dsh`;
const cs = new Containers(prefix);
const cg = (node: string, v2File: string) => readFileSync(localCgroupFile(prefix, node, v2File), "utf8").trim();
const work = mkdtempSync(join(tmpdir(), "kslice-dash-"));
const children: ChildProcess[] = [];
// the Host of the stack that made "web", declared draining: its record is what the page shows
const drainingHost = (draining: boolean) => ({
  connection: { type: "local" },
  prefix,
  runtime: "auto",
  draining,
  owner: "urn:pulumi:dev::fleet::kslice:index:Host::local",
});
/** A finished migration's record in a bundle, as the provider writes it on the target (reconcile/container/move.ts). */
const migrated = (from: string, at: string) => ({
  source: { connection: from, prefix: "elsewhere", name: "web" },
  phase: "started",
  wasRunning: true,
  stoppedAt: 0,
  bytes: 3 << 20,
  templateBuilt: false,
  result: { from, to: "local", mode: "cold", downtimeMs: 412, bytes: 3 << 20, precopyBytes: 2 << 20, templateBuilt: false, at },
});

/** Starts `kslice dashboard ARGS…` and resolves with its URL once it serves. */
function startDashboard(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn("node", [cliPath, "dashboard", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /serving (http:\/\/[^/\s]+\/)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once("exit", (code) => reject(new Error(`kslice dashboard exited (${code}): ${err}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

describe("kslice dashboard in a real browser", () => {
  let browser: BrowserContext;
  let page: Page;
  let url: string;
  let victimPid: number;
  const elsewhere: string[] = [];

  beforeAll(async () => {
    // as a ContainerSet "app"'s first replica makes it (provider/resources/owner.ts)
    const owner = "urn:pulumi:dev::fleet::kslice:index:ContainerSet$pulumi-nodejs:dynamic/kslice:Container::app-1";
    await cs.create("web", {
      owner,
      command: ["sleep", "600"],
      limits: { memory: { max: "48Mi" }, pids: { max: 32 } },
      disk: { max: "32Mi" },
      stopGraceSeconds: 1,
    });
    await cs.create("hog", { command: ["sleep", "600"], limits: { memory: { max: "24Mi" } }, stopGraceSeconds: 1 });
    const victim = await cs.create("victim", { command: ["sleep", "600"], stopGraceSeconds: 1 });
    victimPid = Number(victim.outs.pid);
    await hostLifecycle.create(drainingHost(true));
    await writeMoveRecord(new LocalTransport(), `/var/lib/${prefix}/containers/web`, migrated("old-host", "2026-12-06T10:00:00.000Z"));
    const key = join(work, "key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    // port 1 on loopback: nothing listens, so SSH is refused at once
    ({ url } = await startDashboard([
      "--listen",
      "127.0.0.1:0",
      "--prefix",
      prefix,
      "--local",
      "--ssh",
      "root@127.0.0.1:1",
      "--key",
      key,
      "--insecure-ignore-host-key",
    ]));
    const profile = join(work, "profile");
    mkdirSync(profile);
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    // no request may leave the machine: every one the page makes goes to the dashboard
    page.on("request", (req) => {
      if (!req.url().startsWith(url)) elsewhere.push(req.url());
    });
    await page.goto(url);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
  });

  afterAll(async () => {
    await browser?.close();
    for (const c of children) await stop(c);
    rmSync(work, { recursive: true, force: true });
    await cs.cleanup(false);
    // the Host's own delete: the prefix's last user (its stack's registration and draining record)
    await hostLifecycle.delete("", drainingHost(false));
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("shows the host's facts, and the unreachable host with its reason", async () => {
    const local = page.locator('section.host[data-host="local"]');
    await expect.poll(() => local.locator(".facts").textContent()).toContain(`kernel ${release()}`);
    const down = page.locator('section.host[data-host="root@127.0.0.1:1"]');
    await expect.poll(() => down.getAttribute("data-reachable")).toBe("no");
    expect(await down.locator(".badge.reach").textContent()).toBe("unreachable");
    expect(await down.locator(".reason").textContent()).toMatch(/refused|127\.0\.0\.1/i);
  });

  it("shows memory usage and limit and tasks equal to the cgroup files", async () => {
    const row = page.locator('tr[data-name="web"]');
    const mem = row.locator("td.mem");
    const limit = Number(cg("web", "memory.max"));
    expect(limit).toBe(48 * 2 ** 20);
    await expect.poll(() => mem.getAttribute("data-max")).toBe(String(limit));
    // an idle sleep's usage holds still: the page's last sample and the file agree
    await expect.poll(async () => (await mem.getAttribute("data-current")) === cg("web", "memory.current"), { timeout: 10_000 }).toBe(true);
    const current = Number(await mem.getAttribute("data-current"));
    expect(await mem.textContent()).toBe(`${bytes(current)} / ${bytes(limit)}`);
    expect(await row.locator("td.tasks").textContent()).toBe(`${cg("web", "pids.current")} / 32`);
    expect(await row.locator("td.status").getAttribute("data-status")).toBe("running");
    // its disk image against its limit (df inside says the same: cli/model.ts)
    expect(await row.locator("td.disk").textContent()).toMatch(/^\S+ \/ \d+(\.\d)?Mi$/);
    // the chart is uPlot's canvas
    expect(await row.locator(".chart canvas").count()).toBe(1);
  });

  it("shows the host draining while its Host says so, and not once it no longer does", async () => {
    const local = page.locator('section.host[data-host="local"]');
    await expect.poll(() => local.getAttribute("data-draining")).toBe("yes");
    expect(await local.locator(".badge.draining").isVisible()).toBe(true);
    expect(await local.locator(".badge.draining").getAttribute("title")).toContain("fleet/dev");
    const down = page.locator('section.host[data-host="root@127.0.0.1:1"]');
    expect(await down.locator(".badge.draining").isVisible()).toBe(false);
    await hostLifecycle.update("", drainingHost(true), drainingHost(false));
    await expect.poll(() => local.getAttribute("data-draining"), { timeout: 5_000 }).toBe("no");
    expect(await local.locator(".badge.draining").isVisible()).toBe(false);
  });

  it("tells a migration recorded in a bundle in the events stream: at first, and again when a new one is recorded", async () => {
    const first = page.locator('#events li[data-name="web"][data-kind="migrated"]');
    await first.waitFor({ timeout: 5_000 });
    expect(await first.textContent()).toContain(
      "migrated here from old-host at 2026-12-06T10:00:00.000Z (cold), downtime 412 ms, 3Mi moved (2Mi while it ran)",
    );
    // kslice events says the same, and ps --json carries the record
    const evs = await kslice(["--prefix", prefix, "events", "--json"]);
    expect(
      evs.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as KsliceEvent)
        .filter((e) => e.kind === "migrated")
        .map((e) => e.name),
    ).toEqual(["web"]);
    const ps = JSON.parse((await kslice(["--prefix", prefix, "ps", "--json", "--interval", "0"])).stdout) as PrefixView;
    expect(ps.containers.find((c) => c.name === "web")!.lastMigration).toMatchObject({ from: "old-host", downtimeMs: 412, at: "2026-12-06T10:00:00.000Z" });
    expect(ps.containers.find((c) => c.name === "hog")!.lastMigration).toBeNull();
    // moved away and back: a new record, a new event; the old one is not told again
    await writeMoveRecord(new LocalTransport(), `/var/lib/${prefix}/containers/web`, migrated("other-host", "2026-12-06T11:00:00.000Z"));
    await expect.poll(() => first.count(), { timeout: 5_000 }).toBe(2);
    expect(await first.first().textContent()).toContain("migrated here from other-host at 2026-12-06T11:00:00.000Z");
    expect(await page.locator("#events li").filter({ hasText: "from old-host" }).count()).toBe(1);
  });

  it("lists a ContainerSet's replicas by host", async () => {
    await expect.poll(() => page.locator("#sets tbody").textContent()).toBe("appfleet/devweb on local (running)");
  });

  it("shows a container whose init was killed by hand as stopped within a few seconds", async () => {
    const status = page.locator('tr[data-name="victim"] td.status');
    expect(await status.getAttribute("data-status")).toBe("running");
    process.kill(victimPid, "SIGKILL");
    await expect.poll(() => status.getAttribute("data-status"), { timeout: 5_000 }).toBe("stopped");
    await page.locator('#events li[data-name="victim"][data-kind="stopped"]').waitFor({ timeout: 5_000 });
  });

  it("shows an OOM kill in the events stream", async () => {
    const r = await cs.exec("hog", "dd if=/dev/zero of=/dev/null bs=256M count=1");
    expect(r.code).not.toBe(0); // dd was the one killed
    const oom = page.locator('#events li[data-name="hog"][data-kind="oom-kill"]');
    await oom.waitFor({ timeout: 10_000 });
    expect(await oom.textContent()).toMatch(/\d+ OOM kill\(s\) \(total \d+\)/);
    await expect.poll(() => page.locator('tr[data-name="hog"] td.fails').textContent()).toMatch(/^oom [1-9]/);
    if (process.env.KSLICE_DASHBOARD_SCREENSHOT === "1") await page.screenshot({ path: join(__dirname, "..", "..", "docs", "dashboard.png"), fullPage: true });
  });

  it("refuses a non-loopback address without a token, and a port in use, naming the address", async () => {
    const open = await kslice(["dashboard", "--listen", "0.0.0.0:0", "--prefix", prefix]);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/--listen 0\.0\.0\.0: not a loopback address.*--token/);
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await kslice(["dashboard", "--listen", `127.0.0.1:${port}`, "--prefix", prefix]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`);
    } finally {
      busy.close();
    }
  });

  it("says so when a prefix has nothing under it, and asks for the token off loopback", async () => {
    const empty = await startDashboard(["--listen", "127.0.0.1:0", "--prefix", `${prefix}-none`]);
    const state = (await (await fetch(`${empty.url}state.json`)).json()) as { hosts: { reachable: boolean; empty: boolean; reason: string }[] };
    expect(state.hosts[0]).toMatchObject({ reachable: true, empty: true, reason: `nothing under prefix "${prefix}-none" (no container, cgroup or network)` });
    await stop(empty.child);
    const guarded = await startDashboard(["--listen", "127.0.0.1:0", "--prefix", prefix, "--token", "s3cret"]);
    expect((await fetch(`${guarded.url}state.json`)).status).toBe(401);
    expect((await fetch(`${guarded.url}state.json?token=s3cret`)).status).toBe(200);
    expect((await fetch(`${guarded.url}state.json`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
    expect((await fetch(`${guarded.url}?token=wrong`)).status).toBe(401);
    expect((await fetch(guarded.url, { method: "POST" })).status).toBe(405);
    await stop(guarded.child);
    expect(elsewhere).toEqual([]);
  });
});
