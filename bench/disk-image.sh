#!/usr/bin/env bash
# disk-image.sh — the measurements behind ARCHITECTURE.md "Disk limits: why": what a sparse ext4
# image per container costs (mkfs, loop mount, write throughput with and without, kernel memory).
# Run as root, under the test lock: flock /tmp/kslice-tests.lock bash bench/disk-image.sh
set -eu
d=/var/lib/kslice-measure-$$; mkdir -p "$d/m" "$d/plain"
# set +e: a failing umount (one not mounted) must not end the cleanup
trap 'set +e; umount "$d/m" 2>/dev/null; for m in "$d"/[0-9]*; do [ -d "$m" ] && umount "$m"; done; rm -rf "$d"' EXIT
ms() { date +%s%N; }
fmt() { mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$@"; }
for sz in 512M 10G; do
  for _ in 1 2 3; do
    rm -f "$d/img"; t0=$(ms); truncate -s $sz "$d/img"; fmt "$d/img"; t1=$(ms); mount -o loop "$d/img" "$d/m"; t2=$(ms)
    echo "size $sz: mkfs $(( (t1 - t0) / 1000000 )) ms, mount -o loop $(( (t2 - t1) / 1000000 )) ms, image on disk $(du -k "$d/img" | cut -f1) KiB"
    umount "$d/m"
  done
done
w() { dd if=/dev/zero of="$1" bs=1M count=256 conv=fsync 2>&1 | tail -1; rm -f "$1"; }
rm -f "$d/img"; truncate -s 1G "$d/img"; fmt "$d/img"; mount -o loop "$d/img" "$d/m"
for _ in 1 2 3; do echo "loop, buffered: $(w "$d/m/f")"; echo "plain /var/lib: $(w "$d/plain/f")"; done
losetup --direct-io=on "$(findmnt -no SOURCE "$d/m")"
for _ in 1 2 3; do echo "loop, direct I/O: $(w "$d/m/f")"; done
umount "$d/m"
sl() { awk '/^Slab:/ {s=$2} /^Percpu:/ {p=$2} END {print s + p}' /proc/meminfo; }
for i in $(seq 20); do truncate -s 1G "$d/$i.img"; fmt "$d/$i.img"; mkdir -p "$d/$i"; done
a=$(sl); for i in $(seq 20); do mount -o loop,noatime "$d/$i.img" "$d/$i"; done; b=$(sl)
echo "Slab+Percpu: $a kB before 20 mounts, $b kB after; loop kernel threads: $(ps -e -o comm | grep -c '^loop' || true)"
