import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { basename, dirname, join } from "node:path";
import { run } from "./exec";
import { labCacheDir, type LabImage } from "./image";
import { createOverlay, identityFiles, spawnQemu, tcgCpu, type VmSpec } from "./qemu";
import { freePort } from "./runs";
import { keygen, sshRun, waitForSsh, type LabSsh } from "./ssh";

// A booted guest saved once (QEMU's migration stream to a file, with its disk overlay) and
// restored for each VM a run asks for: a TCG boot costs 20-30 s of both cores on a quiet machine
// and over 100 s under load; a restore costs a few seconds. A restored guest still holds the
// snapshot's identity, so it is given the VM's own (hostname, keys, machine-id, clock) over SSH
// with the snapshot's key before anyone else reaches it; its disk then holds that identity, so a
// real boot later (a crash, a reboot) comes back as the same machine.

/** What a saved guest needs to come back: the migration stream, its disk, and the key that reaches it. */
export interface LabSnapshot {
  dir: string;
  state: string;
  overlay: string;
  ssh: Pick<LabSsh, "privateKeyPath" | "privateKey" | "hostKey">;
  /** Set when this call made it: the boot and save it took. */
  builtSeconds?: number;
}

// Bumped when what is saved changes (the guest's state at save, this file's provisioning).
const recipe = "2";

/** QEMU restores only into the machine it saved from: same QEMU, CPU model, image, vCPUs, memory and devices. */
async function snapshotKey(image: LabImage, spec: Pick<VmSpec, "cpus" | "memoryMiB" | "mirror">): Promise<string> {
  const { stdout } = await run("qemu-system-x86_64", ["--version"], { timeoutMs: 10_000 });
  const h = createHash("sha256")
    .update([recipe, stdout.split("\n")[0], tcgCpu, image.path, image.kernel, image.initrd].join("\n"))
    .digest("hex")
    .slice(0, 12);
  return `${basename(dirname(image.path))}-${h}-c${spec.cpus}-m${spec.memoryMiB}${spec.mirror ? "-fwd" : ""}`;
}

function snapshotsRoot(): string {
  return join(labCacheDir(), "snapshots");
}

function loaded(dir: string): LabSnapshot | undefined {
  const paths = { state: join(dir, "state"), overlay: join(dir, "overlay.qcow2"), key: join(dir, "id_ed25519"), hostKey: join(dir, "host_key.pub") };
  if (!Object.values(paths).every((p) => existsSync(p))) return undefined;
  return {
    dir,
    state: paths.state,
    overlay: paths.overlay,
    ssh: { privateKeyPath: paths.key, privateKey: readFileSync(paths.key, "utf8"), hostKey: readFileSync(paths.hostKey, "utf8").trim() },
  };
}

/** One HMP command over the VM's monitor socket; resolves with what QEMU printed before its next prompt. */
function hmp(socket: string, command: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let out = "";
    let sent = false;
    const timer = setTimeout(
      () => (c.destroy(), reject(new Error(`QEMU monitor: "${command}" got no answer in ${timeoutMs / 1000}s; got: ${out}`))),
      timeoutMs,
    );
    c.on("data", (d) => {
      out += d.toString();
      if (!out.endsWith("(qemu) ")) return;
      if (!sent) {
        sent = true;
        out = "";
        c.write(`${command}\n`);
        return;
      }
      clearTimeout(timer);
      c.end();
      resolve(out.replace(/\r/g, ""));
    });
    c.on("error", (err) => (clearTimeout(timer), reject(err)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Saved guests of images no longer in the cache (a recipe changed) are a few hundred MiB each. */
function pruneStale(image: LabImage): void {
  const root = snapshotsRoot();
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    const imageDir = join(labCacheDir(), name.replace(/^\./, "").split("-").slice(0, 2).join("-"));
    if (!existsSync(imageDir) && !name.startsWith(basename(dirname(image.path)))) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/**
 * The saved guest for this image and machine shape, made on first use: one ordinary boot (under
 * `workDir`, a lab run's directory, so a killed builder is swept like any run), the guest's caches
 * dropped, then its state streamed to a file. Concurrent builders each build; the first rename wins.
 */
export async function ensureSnapshot(
  image: LabImage,
  spec: Pick<VmSpec, "cpus" | "memoryMiB" | "mirror" | "accel">,
  workDir: string,
  log: (s: string) => void,
): Promise<LabSnapshot> {
  const key = await snapshotKey(image, spec);
  const final = join(snapshotsRoot(), key);
  const have = loaded(final);
  if (have) return have;
  pruneStale(image);

  const started = Date.now();
  const dir = join(workDir, "vm-0"); // vm-N: the sweep finds its QEMU by this name
  mkdirSync(dir, { recursive: true });
  await keygen(join(dir, "id_ed25519"), "kslice-lab-snapshot");
  writeFileSync(join(dir, identityFiles.hostname), "lab-snapshot");
  writeFileSync(join(dir, identityFiles.authorized_keys), readFileSync(join(dir, "id_ed25519.pub")));
  await keygen(join(dir, identityFiles.ssh_host_ed25519_key), "lab-snapshot-host");
  const hostKey = readFileSync(join(dir, identityFiles["ssh_host_ed25519_key.pub"]), "utf8").split(" ").slice(0, 2).join(" ");
  writeFileSync(join(dir, "host_key.pub"), hostKey);
  await createOverlay(image.path, join(dir, "overlay.qcow2"));
  const port = await freePort();
  const ssh: LabSsh = {
    host: "127.0.0.1",
    port,
    user: "root",
    privateKeyPath: join(dir, "id_ed25519"),
    privateKey: readFileSync(join(dir, "id_ed25519"), "utf8"),
    hostKey,
    knownHostsPath: join(dir, "known_hosts"),
  };
  writeFileSync(ssh.knownHostsPath, `[127.0.0.1]:${port} ${hostKey}\n`);
  const monitor = join(dir, "monitor.sock");
  const child = spawnQemu(
    { name: "lab-snapshot", dir, image, port, memoryMiB: spec.memoryMiB, cpus: spec.cpus, accel: spec.accel, mirror: spec.mirror },
    { monitor },
  );
  writeFileSync(join(dir, "qemu.pid"), String(child.pid ?? ""));
  let exited = false;
  child.once("exit", () => (exited = true));
  try {
    await waitForSsh(ssh, {
      timeoutMs: 600_000,
      failure: () => (exited ? `QEMU for the lab snapshot exited; its stderr: ${readFileSync(join(dir, "qemu.err"), "utf8").slice(-2000)}` : undefined),
    });
    // settled and small: boot jobs done, caches dropped (zero pages cost nothing in the stream)
    await sshRun({ ssh }, "systemctl is-system-running --wait >/dev/null 2>&1; sync; echo 3 > /proc/sys/vm/drop_caches", undefined, { timeoutMs: 120_000 });
    const state = join(dir, "state");
    if (!/^[\w/.+-]+$/.test(state)) throw new Error(`lab snapshot: path ${state} has characters QEMU's monitor would split`);
    // not stopped first: a stream saved from a paused guest restores paused
    await hmp(monitor, `migrate -d "exec:cat > ${state}"`);
    for (const end = Date.now() + 300_000; ; await sleep(250)) {
      const info = await hmp(monitor, "info migrate");
      if (/Migration status: completed/.test(info)) break;
      if (/Migration status: (failed|cancelled)/.test(info) || Date.now() > end)
        throw new Error(`lab snapshot: migration to ${state} did not complete: ${info}`);
    }
    await hmp(monitor, "quit").catch(() => undefined); // QEMU closes the socket as it quits
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => (exited ? r(undefined) : child.once("exit", r)));
  }
  mkdirSync(snapshotsRoot(), { recursive: true });
  const staging = join(snapshotsRoot(), `.${key}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  for (const f of ["state", "overlay.qcow2", "id_ed25519", "host_key.pub"]) renameSync(join(dir, f), join(staging, f));
  try {
    renameSync(staging, final);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another builder won
  }
  const made = loaded(final);
  if (!made) throw new Error(`lab snapshot: ${final} is incomplete after the build`);
  const builtSeconds = (Date.now() - started) / 1000;
  log(`[lab] saved a booted guest as ${final} in ${builtSeconds.toFixed(1)}s`);
  return { ...made, builtSeconds };
}

/** The VM's own identity, given to a restored guest over the snapshot's key (see the top of this file). */
export function provisionScript(id: {
  hostname: string;
  authorizedKeys: string;
  hostKey: string;
  hostKeyPub: string;
  machineId: string;
  seed: string;
}): string {
  const heredoc = (path: string, body: string) => `cat > ${path} <<'KSLICE_EOF'\n${body.trimEnd()}\nKSLICE_EOF`;
  if (!/^[a-z0-9-]+$/.test(id.hostname) || !/^[0-9a-f]{32}$/.test(id.machineId) || !/^[0-9a-f]+$/.test(id.seed)) throw new Error("lab provision: bad identity");
  return [
    "set -eu",
    `hostname ${id.hostname}`,
    `echo ${id.hostname} > /etc/hostname`,
    `printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n' ${id.hostname} > /etc/hosts`,
    `echo ${id.machineId} > /etc/machine-id`,
    `echo ${id.seed} > /dev/urandom`,
    "umask 077",
    heredoc("/root/.ssh/authorized_keys", id.authorizedKeys),
    heredoc("/etc/ssh/ssh_host_ed25519_key", id.hostKey),
    "umask 022",
    heredoc("/etc/ssh/ssh_host_ed25519_key.pub", id.hostKeyPub),
    // the clock stood still while the guest was saved; QEMU's RTC follows the host's
    `hwclock --hctosys || date -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`,
    "sync",
    // sshd re-executes on HUP: new connections get the new host key, this one goes on
    "kill -HUP $(cat /run/sshd.pid)",
  ].join("\n");
}
