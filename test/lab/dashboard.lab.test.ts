// `kslice dashboard` over SSH against a cgroup v2 guest (crun), read by headless Chromium: the page
// shows the guest's facts, and its numbers equal v2's files read over the test's own ssh.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as C } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import { closeAllTransports } from "../../provider/transport/open";
import { cliPath } from "../helpers/cli";
import { sshConnection, useLab, type LabHost } from "../helpers/lab";
import { testPrefix } from "../helpers/prefix";
import { run } from "./exec";
import { sshOptions } from "./ssh";

const prefix = `${testPrefix}-ldsh`;
const cg = `/sys/fs/cgroup/${prefix}`;

describe("kslice dashboard over SSH on a cgroup v2 host", () => {
  const lab = useLab(1, { bootTimeoutMs: 300_000 });
  const vm = (): LabHost => lab().hosts[0]!;
  const host = () => ({ connection: sshConnection(vm()), prefix });
  const sshCat = async (file: string) => (await run("ssh", [...sshOptions(vm().ssh), vm().ssh.host, "--", `cat ${file}`], { timeoutMs: 60_000 })).stdout.trim();
  let dashboard: ChildProcess | undefined;
  let browser: BrowserContext | undefined;
  const work = mkdtempSync(join(tmpdir(), "kslice-ldash-"));

  afterAll(async () => {
    await browser?.close();
    if (dashboard && dashboard.exitCode === null) {
      const exited = new Promise((r) => dashboard!.once("exit", r));
      dashboard.kill("SIGTERM");
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
    try {
      vm();
    } catch {
      return; // the lab did not boot: nothing was made
    }
    try {
      await C.delete("", { host: host(), name: "web", command: ["true"] }).catch(() => undefined);
      await hostLifecycle.delete("", { ...host(), runtime: "auto" }).catch(() => undefined);
    } finally {
      await closeAllTransports();
    }
  });

  it("shows the guest's facts and numbers equal to its cgroup v2 files", async () => {
    const c = await C.check({}, { host: host(), name: "web", command: ["sleep", "600"], limits: { memory: { max: "40Mi" }, pids: { max: 16 } } });
    expect(c.failures).toBeUndefined();
    await C.create(c.inputs!);
    const target = `${vm().ssh.user}@${vm().ssh.host}:${vm().ssh.port}`;
    dashboard = spawn(
      "node",
      [cliPath, "dashboard", "--listen", "127.0.0.1:0", "--prefix", prefix, "--ssh", target, "--key", vm().ssh.privateKeyPath, "--host-key", vm().ssh.hostKey],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    const url = await new Promise<string>((resolve, reject) => {
      dashboard!.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /serving (http:\/\/[^/\s]+\/)/.exec(err);
        if (m) resolve(m[1]!);
      });
      dashboard!.once("exit", (code) => reject(new Error(`kslice dashboard exited (${code}): ${err}`)));
    });
    browser = await chromium.launchPersistentContext(join(work, "profile"), {
      executablePath: "/usr/bin/chromium",
      headless: true,
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
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(url);
    const section = page.locator(`section.host[data-host="${target}"]`);
    await expect.poll(() => section.getAttribute("data-reachable"), { timeout: 60_000 }).toBe("yes");
    const kernel = await sshCat("/proc/sys/kernel/osrelease");
    expect(await section.locator(".facts").textContent()).toMatch(new RegExp(`kernel ${kernel.replace(/\./g, "\\.")} · cgroup v2 · crun`));
    const mem = page.locator('tr[data-name="web"] td.mem');
    await expect.poll(() => mem.getAttribute("data-max"), { timeout: 30_000 }).toBe(await sshCat(`${cg}/web/memory.max`));
    // an idle sleep's usage holds still: the page's last sample and the file agree (TCG is slow: poll both)
    await expect.poll(async () => (await mem.getAttribute("data-current")) === (await sshCat(`${cg}/web/memory.current`)), { timeout: 30_000 }).toBe(true);
    expect(await page.locator('tr[data-name="web"] td.tasks').textContent()).toBe(`${await sshCat(`${cg}/web/pids.current`)} / 16`);
  });
});
