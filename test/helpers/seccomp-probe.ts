import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** test/fixtures/probes/seccomp.c built static into a temp dir (never committed), for bind-mounting. */
export function buildSeccompProbe(): { dir: string; path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "kslice-probe-"));
  const path = join(dir, "seccomp");
  execFileSync("gcc", ["-static", "-O1", "-Wall", "-o", path, join(__dirname, "..", "fixtures", "probes", "seccomp.c")]);
  return { dir, path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The probe's "attack RESULT" lines as { attack: "OK" | errno name }. */
export function probeResults(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((words) => words.length === 2)
      .map(([attack, result]) => [attack!, result!]),
  );
}

/** Refused by the default profile, with the errno the filter answers. */
export const refused: Record<string, string> = {
  "clone-ns": "EPERM",
  "clone3-ns": "ENOSYS",
  clone3: "ENOSYS",
  "unshare-user": "EPERM",
  "unshare-net": "EPERM",
  setns: "EPERM",
  io_uring: "EPERM",
  bpf: "EPERM",
  keyctl: "EPERM",
  add_key: "EPERM",
  userfaultfd: "EPERM",
  open_by_handle_at: "EPERM",
  mount: "EPERM",
  umount: "EPERM",
  fsopen: "EPERM",
  open_tree: "EPERM",
  perf_event_open: "EPERM",
  kexec: "EPERM",
  init_module: "EPERM",
  "mknod-chr": "EPERM",
  "mknod-blk": "EPERM",
  "mknodat-chr": "EPERM",
  "mknodat-blk": "EPERM",
};

/** What a default container must still be able to do. */
export const allowed = ["fork", "clone", "mknod-fifo", "mknodat-fifo"];

/**
 * Refused by seccomp alone: a container without the filter (and Docker's 14 capabilities) is
 * allowed them, so these prove the filter, not a missing capability, refused them.
 */
export const onlySeccompRefuses = ["clone-ns", "clone3-ns", "unshare-user", "io_uring", "keyctl", "add_key", "userfaultfd", "mknod-chr", "mknodat-blk"];
