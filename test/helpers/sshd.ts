import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LocalSshd {
  port: number;
  /** sshd's pid (a test may SIGSTOP it to make the host unreachable). */
  pid: number;
  privateKey: string;
  hostKey: string;
  /** Lines of sshd's log, e.g. to count accepted connections. */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/** An OpenSSH server on 127.0.0.1 with keys of its own, for tests of the SSH transport. */
export async function startSshd(): Promise<LocalSshd> {
  const dir = mkdtempSync(join(tmpdir(), "kslice-sshd-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client.pub")));
  const port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, "host")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "pid")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "LogLevel VERBOSE",
      "MaxSessions 64",
      "MaxStartups 64",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege-separation directory
  const proc: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr!.on("data", (d) => (log += String(d)));
  for (let i = 0; i < 50 && !/Server listening/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
  if (!/Server listening/.test(log)) throw new Error(`sshd did not start: ${log}`);
  const pub = readFileSync(join(dir, "host.pub"), "utf8").trim().split(" ");
  return {
    port,
    pid: proc.pid!,
    privateKey: readFileSync(join(dir, "client"), "utf8"),
    hostKey: `${pub[0]} ${pub[1]}`,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
