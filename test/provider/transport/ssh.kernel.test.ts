import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SshTransport, maxSessionsPerHost } from "../../../provider/transport/ssh";
import { CommandError, HostUnreachableError, isHostUnreachable } from "../../../provider/transport/transport";
import { sleep } from "../../helpers/procs";
import { freePort, startSshd, type LocalSshd } from "../../helpers/sshd";

const repoRoot = join(__dirname, "..", "..", "..");

describe("SshTransport against a real OpenSSH server on loopback", () => {
  let sshd: LocalSshd;
  let t: SshTransport;
  const conn = (over: object = {}) => ({
    type: "ssh" as const,
    host: "127.0.0.1",
    port: sshd.port,
    user: "root",
    privateKey: sshd.privateKey,
    hostKey: sshd.hostKey,
    insecureIgnoreHostKey: false,
    connectTimeoutSeconds: 5,
    ...over,
  });
  beforeAll(async () => {
    sshd = await startSshd();
    t = new SshTransport(conn());
  });
  afterAll(async () => {
    await t?.close();
    await sshd?.stop();
  });

  it("runs commands with input, and keeps stdout, stderr and exit codes apart", async () => {
    expect(await t.run(["sh", "-c", "cat; echo oops >&2"], { input: "x y" })).toMatchObject({ stdout: "x y", stderr: "oops\n", exitCode: 0 });
    const e = await t.run(["sh", "-c", "exit 7"]).catch((x) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect(e.exitCode).toBe(7);
    expect(e.message).toContain(`root@127.0.0.1:${sshd.port}`);
  });

  it("quotes arguments so the remote shell sees them unchanged", async () => {
    const r = await t.run(["printf", "%s|", "a b", "it's", "$HOME", ""]);
    expect(r.stdout).toBe("a b|it's|$HOME||");
  });

  it("multiplexes: 30 parallel commands and 20 batched reads use one connection and one read command", async () => {
    const fresh = new SshTransport(conn());
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const outs = await Promise.all(Array.from({ length: 30 }, (_, i) => fresh.run(["echo", String(i)])));
    expect(outs.map((o) => o.stdout)).toEqual(Array.from({ length: 30 }, (_, i) => `${i}\n`));
    const files = await Promise.all(Array.from({ length: 20 }, (_, i) => fresh.readFiles(["/proc/sys/kernel/ostype", `/nonexistent-${i}`])));
    expect(files[0]).toEqual(["Linux", undefined]);
    expect((fresh as unknown as { batch: { commands: number } }).batch.commands).toBe(1);
    await fresh.close();
    const after = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    expect(after - before).toBe(1);
  });

  it("keeps the private key on disk only while connecting, and sweeps dirs of dead processes", async () => {
    const stale = mkdtempSync(join(tmpdir(), "kslice-ssh-999999-"));
    const fresh = new SshTransport(conn());
    await fresh.run(["true"]);
    const dir = (fresh as unknown as { dir: string }).dir;
    expect(readdirSync(dir)).not.toContain("key");
    expect(existsSync(stale)).toBe(false);
    await fresh.close();
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a host whose key is not the expected one", async () => {
    const other = new SshTransport(conn({ hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlZ2lzdGVyZWQta2V5LWZvci1hLWRpZmZlcmVudC1ob3N0" }));
    const e = await other.run(["true"]).catch((x) => x);
    await other.close();
    expect(e).toBeInstanceOf(CommandError);
    expect(e.exitCode).toBe(255);
    expect(e.message).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
  });

  it("fails fast and names the host when nothing listens; its next commands fail at once, unreachable", async () => {
    const port = await freePort();
    const dead = new SshTransport(conn({ port }));
    const e = await dead.run(["true"]).catch((x) => x);
    expect(e.message).toContain(`root@127.0.0.1:${port}`);
    expect(e.message).toContain("Connection refused");
    expect(e).toBeInstanceOf(HostUnreachableError);
    const again = await Promise.all([dead.run(["true"]).catch((x) => x), dead.readFiles(["/etc/hostname"]).catch((x) => x)]);
    for (const x of again) {
      expect(isHostUnreachable(x)).toBe(true);
      expect(x.message).toMatch(/Connection refused \(host unreachable \d+s ago; not retried for 15s\)/);
    }
  });

  it("a refused host key is not 'unreachable' (a check fails on it at preview)", async () => {
    const other = new SshTransport(conn({ hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlZ2lzdGVyZWQta2V5LWZvci1hLWRpZmZlcmVudC1ob3N0" }));
    const e = await other.run(["true"]).catch((x) => x);
    await other.close();
    expect(isHostUnreachable(e)).toBe(false);
  });

  it(`runs at most ${maxSessionsPerHost} commands at once on one host (sshd allows 10 sessions per connection); 24 started together all succeed`, async () => {
    const log = join(mkdtempSync(join(tmpdir(), "kslice-sessions-")), "log");
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => t.run(["sh", "-c", `echo + >> ${log}; sleep 0.3; echo - >> ${log}; echo ${i}`])));
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 24 }, (_, i) => String(i)));
    let now = 0;
    let most = 0;
    for (const c of readFileSync(log, "utf8").split("\n").filter(Boolean)) {
      now += c === "+" ? 1 : -1;
      most = Math.max(most, now);
    }
    console.log(`[ssh] 24 commands at once: at most ${most} ran together`);
    rmSync(dirname(log), { recursive: true, force: true });
    expect(most).toBeLessThanOrEqual(maxSessionsPerHost);
    expect(most).toBeGreaterThan(1);
  });

  it("bounds a host that accepts TCP but never speaks SSH", async () => {
    const port = await freePort();
    const silent: Server = createServer(() => undefined).listen(port, "127.0.0.1");
    const hung = new SshTransport(conn({ port, connectTimeoutSeconds: 2 }));
    const start = Date.now();
    const e = await hung.run(["true"], { timeoutMs: 10_000 }).catch((x) => x);
    silent.close();
    expect(e).toBeInstanceOf(CommandError);
    expect(e.message).toContain(`root@127.0.0.1:${port}`);
    expect(Date.now() - start).toBeLessThan(10_000);
  });

  it("a command that exits 255 runs once: its status is its own, not a reason to run it again", async () => {
    const count = join(mkdtempSync(join(tmpdir(), "kslice-ssh255-")), "runs");
    const e = await t.run(["sh", "-c", `echo run >> ${count}; exit 255`]).catch((x) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect(e.exitCode).toBe(255);
    expect(readFileSync(count, "utf8")).toBe("run\n");
    expect((await t.run(["sh", "-c", `echo run >> ${count}; exit 255`], { allowFailure: true })).exitCode).toBe(255);
    expect(readFileSync(count, "utf8")).toBe("run\nrun\n");
    rmSync(join(count, ".."), { recursive: true });
  });

  it("a master gone before the command (idle expiry, killed) is reopened and the command runs once", async () => {
    const count = join(mkdtempSync(join(tmpdir(), "kslice-sshmaster-")), "runs");
    const fresh = new SshTransport(conn());
    await fresh.run(["true"]);
    const dir = (fresh as unknown as { dir: string }).dir;
    execFileSync("ssh", ["-o", `ControlPath=${join(dir, "mux")}`, "-O", "exit", "127.0.0.1"], { stdio: "ignore" });
    expect((await fresh.run(["sh", "-c", `echo run >> ${count}; echo ok`])).stdout).toBe("ok\n");
    expect(readFileSync(count, "utf8")).toBe("run\n");
    // attach (logs -f, exec) too: its output is the terminal's, so the master is asked first
    execFileSync("ssh", ["-o", `ControlPath=${join(dir, "mux")}`, "-O", "exit", "127.0.0.1"], { stdio: "ignore" });
    expect(await fresh.attach(["sh", "-c", `echo run >> ${count}; exit 3`])).toBe(3);
    expect(readFileSync(count, "utf8")).toBe("run\nrun\n");
    await fresh.close();
    rmSync(join(count, ".."), { recursive: true });
  });

  it("a provider killed with SIGKILL (as the engine ends it) leaves no temp dir behind", async () => {
    const child = spawn(join(repoRoot, "node_modules", ".bin", "vite-node"), [join(repoRoot, "test", "helpers", "ssh-child.ts"), JSON.stringify(conn())], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const dirOf = () => /^(\/.*kslice-ssh-\d+-\w+)$/m.exec(out)?.[1];
    for (let i = 0; i < 300 && !dirOf(); i++) await sleep(100);
    const dir = dirOf()!;
    expect(dir).toBeDefined();
    expect(existsSync(dir)).toBe(true);
    child.kill("SIGKILL");
    for (let i = 0; i < 100 && existsSync(dir); i++) await sleep(100);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});
