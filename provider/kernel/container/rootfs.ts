import { createHash } from "node:crypto";
import type { BaseRootfs, Rootfs } from "../../../schema/container";
import { shellQuote as q, type Transport } from "../../transport/transport";
import type { HostLayout } from "./layout";
import { diskImage, mountDiskScript } from "./disk";

/**
 * Templates are read-only trees shared by every container made from them; each container gets a
 * private upper layer through overlayfs (OpenVZ's template density with mainline overlayfs).
 * A template is built in a temp dir under a per-template lock and renamed into place when whole.
 */
export function templateKey(declared: Rootfs): string | undefined {
  const r = baseOf(declared);
  if ("busybox" in r) return "busybox";
  if ("debootstrap" in r) {
    const h = createHash("sha256").update(JSON.stringify(r.debootstrap)).digest("hex").slice(0, 12);
    return `debian-${r.debootstrap.suite}-${h}`;
  }
  if ("ociLayout" in r) {
    return `oci-${createHash("sha256").update(`${r.ociLayout.path}:${r.ociLayout.ref}`).digest("hex").slice(0, 12)}`;
  }
  return undefined;
}

/** A step of a build: its own stderr stays, and a line naming it follows when it fails. */
const step = (what: string, cmd: string) => `{ ${cmd}; } || { echo "template build: ${what.replace(/["$`\\]/g, "")} failed" >&2; exit 1; }`;

/** The build script for a template into "$tmp" (a subshell: each step exits it on failure); runs on the host. */
function buildScript(r: BaseRootfs): string {
  if ("busybox" in r) {
    // Applets as links to a copy of the binary (busybox-static: it must run alone).
    return [
      `bb=$(command -v busybox) || { echo "template build: busybox not found: install busybox-static" >&2; exit 1; }`,
      step("mkdir", `mkdir -p "$tmp/bin" "$tmp/etc" "$tmp/root" "$tmp/tmp" "$tmp/var/log" "$tmp/proc" "$tmp/sys" "$tmp/dev" && chmod 1777 "$tmp/tmp"`),
      step("copy of busybox", `cp "$bb" "$tmp/bin/busybox"`),
      // one process for ~400 applet links (an ln each is slow over SSH on an emulated VM)
      step("busybox --install", `chroot "$tmp" /bin/busybox --install -s /bin`),
      step(
        "passwd and group",
        `printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n' > "$tmp/etc/passwd" && printf 'root:x:0:\\nnogroup:x:65534:\\n' > "$tmp/etc/group"`,
      ),
    ].join("\n");
  }
  if ("debootstrap" in r) {
    const d = r.debootstrap;
    // The host's own Debian mirror (the one it can reach): deb822 .sources first, then .list lines;
    // disabled or non-Debian sources are skipped.
    const detect = [
      `m=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -E '/debian/?$' | head -n1)`,
      `[ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -nE 's|^deb +(\\[[^]]*\\] +)?([a-z]+://[^ ]*/debian/?) .*|\\2|p' | head -n1)`,
      `[ -n "$m" ] || m=http://deb.debian.org/debian`,
    ].join("; ");
    const mirror = d.mirror ? `m=${q(d.mirror)}` : detect;
    const pkgs = d.packages.length ? `--include=${q(d.packages.join(","))}` : "";
    return `${mirror}\n${step(`mmdebstrap ${d.suite}`, `mmdebstrap --quiet --mode=root --variant=minbase ${pkgs} ${q(d.suite)} "$tmp" "$m"`)}`;
  }
  if ("ociLayout" in r) {
    // unpacked beside "$tmp", whose place its rootfs then takes (dotfiles included)
    const ref = `${r.ociLayout.path}:${r.ociLayout.ref}`;
    return [
      step(`umoci unpack of ${ref}`, `umoci unpack --image ${q(ref)} "$tmp.oci"`),
      step("moving the unpacked rootfs", `rmdir "$tmp" && mv -T "$tmp.oci/rootfs" "$tmp"`),
    ].join("\n");
  }
  throw new Error("no template for a path rootfs");
}

/**
 * Makes sure the template exists and returns the lower directory of the container's overlay.
 * Built once per host: parallel creates wait on the template's lock (flock) and reuse the result;
 * a failed build publishes nothing and its error names the step, with the step's stderr.
 */
export async function ensureLower(t: Transport, layout: HostLayout, declared: Rootfs, timeoutMs = 600_000): Promise<{ lower: string; built: boolean }> {
  const r = baseOf(declared);
  if ("path" in r) {
    await t.run(["test", "-d", r.path]).catch(() => {
      throw new Error(`rootfs.path: ${r.path} is not a directory on host ${t.target}`);
    });
    return { lower: r.path, built: false };
  }
  const key = templateKey(r)!;
  const dir = `${layout.templates}/${key}`;
  const script = [
    `[ -d ${q(dir)} ] && { echo cached; exit 0; }`,
    `mkdir -p ${q(layout.templates)} || exit 1`,
    // one build per template: the others wait here, then find it built
    `exec 9>${q(`${layout.templates}/.lock-${key}`)} || exit 1`,
    `flock -w ${Math.max(1, Math.floor(timeoutMs / 1000) - 5)} 9 || { echo "template ${key}: another build still holds its lock" >&2; exit 1; }`,
    `[ -d ${q(dir)} ] && { echo cached; exit 0; }`,
    `tmp=$(mktemp -d ${q(`${layout.templates}/.build-${key}-XXXXXX`)}) || exit 1`,
    `trap 'rm -rf "$tmp" "$tmp.oci"' EXIT`,
    `( ${buildScript(r)}\n) || exit 1`,
    // on disk before it is published, and its name after (durable.ts): a template is thousands of files, so one syncfs
    `sync -f "$tmp" || { echo "template ${key}: sync of the build failed" >&2; exit 1; }`,
    `mv -T "$tmp" ${q(dir)} || { echo "template ${key}: cannot publish the build" >&2; exit 1; }`,
    `sync -- ${q(layout.templates)} || exit 1`,
  ].join("\n");
  const r2 = await t.run(["sh", "-c", script], { timeoutMs });
  return { lower: dir, built: !r2.stdout.includes("cached") };
}

/**
 * Who may reach into a bundle. It is readable by root alone: it holds the writable layer, the log
 * and config.json (the env, secrets included). A user-namespaced container's root must still reach
 * its rootfs through it, so that bundle is 0710 with the container's root group (its mapped gid)
 * as group: search, no listing, and nobody else. Run at every start too, so older bundles (0711) close.
 */
export function bundleAccessScript(bundle: string, userNamespaceGid: number | undefined): string {
  return `chgrp ${userNamespaceGid ?? 0} ${q(bundle)} && chmod ${bundleMode(userNamespaceGid)} ${q(bundle)}`;
}

/** The bundle's mode (see bundleAccessScript); a create makes the bundle with it (mkdir -m). */
export const bundleMode = (userNamespaceGid: number | undefined) => (userNamespaceGid === undefined ? "0700" : "0710");

/**
 * The overlay mount of a bundle's rootfs: lower (the template) + the bundle's own upper and work,
 * in the bundle itself or, for a container with a disk limit, in its image's mount (`root`, disk.ts).
 */
export function overlayMount(bundle: string, lower: string, root = bundle): string {
  const opts = `lowerdir=${lower},upperdir=${root}/upper,workdir=${root}/work`;
  return `mount -t overlay overlay -o ${q(opts)} ${q(`${bundle}/rootfs`)}`;
}

/**
 * Shell that mounts the rootfs again when it is not mounted (after a reboot, or an unmount behind
 * kslice's back), keeping the writable layer. start.sh runs it, so every start can. A bundle with
 * a disk image (disk.ts) has its upper in the image: the image is mounted first.
 */
export function ensureRootfsMounted(bundle: string, lower: string): string {
  const r = q(`${bundle}/rootfs`);
  const u = `${bundle}/disk`;
  const mountOverlay = `mount -t overlay overlay -o "lowerdir="${q(lower)}",upperdir=$u/upper,workdir=$u/work" ${r}`;
  return [
    `mountpoint -q ${r} || { u=${q(bundle)}; if [ -f ${q(diskImage(bundle))} ]; then ( ${mountDiskScript(bundle)}
) || exit 1; u=${q(u)}; fi`,
    `[ -d "$u/upper" ] && mkdir -p "$u/work" ${r} && ${mountOverlay}; } || { echo "cannot mount the rootfs (lower ${lower}, upper $u/upper)" >&2; exit 1; }`,
  ].join("\n");
}

/** Where a container's overlay lower is: the user's path, or the template (built by ensureLower). */
export function lowerOf(layout: HostLayout, declared: Rootfs): string {
  const r = baseOf(declared);
  return "path" in r ? r.path : `${layout.templates}/${templateKey(r)!}`;
}

/** What a container's writable layer lies on: its rootfs, or for a backup what the backup's layer lay on (check fills it). */
export function baseOf(r: Rootfs): BaseRootfs {
  if (!("backup" in r)) return r;
  if (!r.backup.rootfs) throw new Error(`rootfs.backup: what the layer of ${r.backup.file} lies on is not known yet (check reads it from the backup)`);
  return r.backup.rootfs;
}

/**
 * What the layer of a backup lay on, from its source's record: the rootfs declaration kslice.json
 * holds (since backups exist), else told from the lower: the busybox template, or a path outside
 * the templates. Undefined when it cannot be told (the user declares rootfs.backup.rootfs then).
 */
export function backupBase(record: { lower?: string; rootfs?: unknown }): BaseRootfs | undefined {
  if (record.rootfs && typeof record.rootfs === "object") return record.rootfs as BaseRootfs;
  if (!record.lower) return undefined;
  if (/\/templates\/busybox$/.test(record.lower)) return { busybox: {} };
  if (!/^\/var\/lib\/[^/]+\/templates\//.test(record.lower)) return { path: record.lower };
  return undefined;
}
