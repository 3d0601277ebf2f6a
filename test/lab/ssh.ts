import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, type CommandResult } from "./exec";

/** How to reach a lab VM: root on a 127.0.0.1 port forward, key-only, host key checked strictly. */
export interface LabSsh {
  host: string;
  port: number;
  user: string;
  /** The run's client private key (OpenSSH format), the same for every VM of a run. */
  privateKey: string;
  privateKeyPath: string;
  /** The VM's host public key as "ssh-ed25519 AAAA…" (no comment), made fresh for this run. */
  hostKey: string;
  /** A known_hosts file holding exactly that key for [host]:port. */
  knownHostsPath: string;
  /**
   * Commands share one connection per identity (OpenSSH ControlMaster): set for the tier's shared
   * guests only, which are never rebooted, crashed or killed under a master. A new connection
   * costs the TCG guest ~1 s of CPU (sshd, key exchange), a session on a master ~0.15 s.
   */
  mux?: boolean;
}

/**
 * The master's socket: one per identity (key, known_hosts, user, port). In the temp dir, not the
 * run's: a socket path must fit in 108 bytes, and ssh binds it first under a name 17 bytes longer.
 */
function controlPath(ssh: LabSsh): string {
  const id = createHash("sha256").update([ssh.privateKeyPath, ssh.knownHostsPath, ssh.user, ssh.port].join("\n")).digest("hex").slice(0, 16);
  return join(tmpdir(), `kslice-labmux-${id}`);
}

/** OpenSSH options that ignore the user's own config and trust only the lab's known_hosts. */
export function sshOptions(ssh: LabSsh, connectTimeoutSeconds = 10): string[] {
  return [
    "-F",
    "none",
    "-i",
    ssh.privateKeyPath,
    "-p",
    String(ssh.port),
    "-l",
    ssh.user,
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${ssh.knownHostsPath}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    `ConnectTimeout=${connectTimeoutSeconds}`,
    ...(ssh.mux ? ["-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath(ssh)}`, "-o", "ControlPersist=120"] : []),
  ];
}

/**
 * Runs a shell command on a lab VM. Resolves with the command's own exit code (non-zero included);
 * throws only when ssh itself fails (exit 255: unreachable, auth, host key) or time runs out.
 */
export async function sshRun(target: { ssh: LabSsh }, command: string, input?: string, opts: { timeoutMs?: number } = {}): Promise<CommandResult> {
  const args = [...sshOptions(target.ssh), target.ssh.host, "--", command];
  const r = await run("ssh", args, { input, timeoutMs: opts.timeoutMs ?? 60_000, allowFailure: true });
  if (r.exitCode === 255) {
    throw new Error(`ssh ${target.ssh.user}@${target.ssh.host}:${target.ssh.port} ${JSON.stringify(command)} exited 255: ${r.stderr.trim() || "(no stderr)"}`);
  }
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until sshd answers with the expected host key and accepts the key.
 * `failure` is asked between attempts and ends the wait early (e.g. QEMU exited).
 */
export async function waitForSsh(ssh: LabSsh, opts: { timeoutMs: number; failure: () => string | undefined }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    const dead = opts.failure();
    if (dead) throw new Error(dead);
    const r = await run("ssh", [...sshOptions(ssh, 3), ssh.host, "--", "true"], { timeoutMs: 15_000, allowFailure: true }).catch((err: Error) => ({
      exitCode: -1,
      stdout: "",
      stderr: err.message,
    }));
    if (r.exitCode === 0) return;
    last = r.stderr.trim();
    // A wrong host key will not fix itself: the VM did not take this run's identity.
    if (/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(last)) {
      throw new Error(`ssh to 127.0.0.1:${ssh.port}: ${last}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`ssh to 127.0.0.1:${ssh.port} did not answer within ${opts.timeoutMs / 1000}s; last ssh error: ${last || "(none)"}`);
    }
    await sleep(500);
  }
}

/** An ed25519 key pair without a passphrase at PATH and PATH.pub. */
export const keygen = (path: string, comment: string) => run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], { timeoutMs: 10_000 });
