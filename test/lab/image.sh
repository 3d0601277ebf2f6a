#!/usr/bin/env bash
# image.sh — builds, or finds in the cache, the lab's Debian bookworm VM: an ext4 root filesystem
# image plus the kernel and initrd taken out of it (QEMU boots them directly, no bootloader).
#
# The cache lives outside the repository, in ${KSLICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kslice}/lab/,
# keyed by a hash of the recipe (this script, which holds the package list, and the guest/ tree),
# so the image is rebuilt only when the recipe changes.
# stdout: key=value lines (image, kernel, initrd, built, seconds) for lab.ts; progress goes to stderr.
# Needs root (mmdebstrap in root mode) only when it has to build.
set -euo pipefail
start=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
cache=${KSLICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kslice}/lab
log() { echo "[lab:image] $*" >&2; }
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}'; }

suite=bookworm
packages=(
  linux-image-amd64 initramfs-tools systemd-sysv udev kmod
  openssh-server runc crun iproute2 busybox-static nftables procps
  mmdebstrap  # kslice builds debootstrap templates with it (examples/devenv)
  criu  # live migration (checkpoint/restore) where the guest kernel allows it
  iptables  # criu 3.17 locks a dumped network namespace with iptables-restore (--network-lock skip is 3.19+)
  e2fsprogs  # containers' disk limits: mkfs.ext4, resize2fs, e2fsck (minbase has none of them)
  lxcfs  # containers' own /proc (procViews, on by default)
  zstd  # backups: the writable layer is compressed with it
)
# Free space left in the root filesystem for what tests put there (rootfs trees, bundles).
free_mib=2048

recipe=$(
  cd "$here"
  sha256sum image.sh
  find guest \( -type f -o -type l \) -printf '%p %m %l\n' | LC_ALL=C sort
  find guest -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
)
key=$(sha256sum <<<"$recipe" | cut -c1-16)
dir=$cache/image-$key

# Removes a build directory. A build killed mid-way may leave mmdebstrap's /proc, /sys or /dev
# mounts inside it: unmount those first and never let rm cross into another filesystem.
discard() {
  findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$1"
}

report() {
  echo "image=$dir/rootfs.img"
  echo "kernel=$dir/vmlinuz"
  echo "initrd=$dir/initrd.img"
  echo "built=$1"
  echo "seconds=$(elapsed)"
}

if [ -f "$dir/rootfs.img" ]; then
  log "cached image $dir (checked in $(elapsed)s)"
  report 0
  exit 0
fi

mkdir -p "$cache"
# One builder at a time; a second caller waits and then finds the image.
exec 9>"$cache/image.lock"
flock -w 900 9 || { log "timed out waiting for $cache/image.lock"; exit 1; }
if [ -f "$dir/rootfs.img" ]; then
  log "cached image $dir (built by another process, waited $(elapsed)s)"
  report 0
  exit 0
fi

[ "$(id -u)" = 0 ] || { log "building the image needs root (mmdebstrap root mode); run once as root: $0"; exit 1; }
for tool in mmdebstrap mkfs.ext4; do
  command -v "$tool" >/dev/null || { log "$tool not found: apt-get install mmdebstrap e2fsprogs"; exit 1; }
done

# Reuse the mirror this machine's apt already uses (the only Debian mirror that may be reachable).
mirror() {
  if [ -n "${KSLICE_LAB_MIRROR:-}" ]; then echo "$KSLICE_LAB_MIRROR"; return; fi
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
      /^URIs:/ { uri = $2 } /^Suites:/ { suites = $0 }
      /^$/ { if (uri ~ /\/debian\/?$/ && suites ~ /'"$suite"'( |$)/) { print uri; exit } uri = ""; suites = "" }
      END { if (uri ~ /\/debian\/?$/ && suites ~ /'"$suite"'( |$)/) print uri }' | head -n1)
  [ -n "$m" ] || m=$(grep -hsE "^deb +(\[[^]]*\] +)?[a-z]+://[^ ]+ +$suite +" /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '{print $1}' | head -n1)
  echo "${m:-http://deb.debian.org/debian}"
}
url=$(mirror)

# Leftovers of killed builds (we hold the lock, so no build is running).
for stale in "$cache"/image-*.tmp.*; do
  if [ -e "$stale" ]; then discard "$stale"; fi
done
tmp=$(mktemp -d "$cache/image-$key.tmp.XXXXXX")
trap 'discard "$tmp"' EXIT
debs=$cache/debs
mkdir -p "$debs"
log "building $dir from $url ($suite: ${packages[*]})"

# The apt archive cache (sync-in/sync-out) makes a rebuild after a recipe change download little.
mmdebstrap --mode=root --variant=apt --format=directory \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --skip=download/empty \
  --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && cp -a '$debs'/. \"\$1/var/cache/apt/archives/\"" \
  --setup-hook="cp -R --preserve=mode,links '$here/guest'/. \"\$1/\"" \
  --setup-hook='chmod 0755 "$1"/usr/local/sbin/kslice-lab-provision "$1"/etc/initramfs-tools/hooks/kslice-lab' \
  --customize-hook="cp -a \"\$1\"/var/cache/apt/archives/*.deb '$debs'/ && rm -f \"\$1\"/var/cache/apt/archives/*.deb" \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='systemctl --root="$1" enable systemd-networkd.service kslice-lab-provision.service' \
  --customize-hook='systemctl --root="$1" mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer getty.target systemd-networkd-wait-online.service' \
  "$suite" "$tmp/rootfs" "$url" >&2

cp "$tmp"/rootfs/boot/vmlinuz-* "$tmp/vmlinuz"
cp "$tmp"/rootfs/boot/initrd.img-* "$tmp/initrd.img"
chmod 0644 "$tmp/vmlinuz" "$tmp/initrd.img"

used=$(du -sm "$tmp/rootfs" | cut -f1)
# A sparse file: the image takes on disk what the tree holds, the rest is free space for tests.
mkfs.ext4 -q -F -L kslice-lab -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
  -d "$tmp/rootfs" "$tmp/rootfs.img" "$((used + free_mib))M" >&2
discard "$tmp/rootfs"
printf '%s\n' "$recipe" >"$tmp/recipe"

mv -T "$tmp" "$dir"
trap - EXIT
# Older recipes' images are dead weight.
for old in "$cache"/image-*; do
  if [ "$old" != "$dir" ]; then discard "$old"; fi
done
log "built $dir in $(elapsed)s (root filesystem ${used} MiB + ${free_mib} MiB free)"
report 1
