#!/usr/bin/env bash
# cleanup.sh PREFIX — removes what a kslice run with PREFIX left behind (after leaks.sh reported it):
# its supervisor (and its unit), its boot unit, its lxcfs (unit or cgroup, process, mount), containers in its runtime root, processes in its
# cgroups, the cgroups (deepest first), mounts, loop devices (disk images) and dirs, its interfaces (by alias) and its nftables table.
set -u
prefix=${1:?usage: cleanup.sh PREFIX}
pkill -f "/var/lib/$prefix[^/]*/supervisor.sh" 2>/dev/null
if [ -d /run/systemd/system ]; then systemctl stop "$prefix"-supervisor.service "$prefix"-lxcfs.service 2>/dev/null; systemctl disable -q "$prefix"-boot.service 2>/dev/null; fi
if [ -e /etc/systemd/system/"$prefix"-boot.service ]; then
  rm -f /etc/systemd/system/"$prefix"-boot.service /etc/systemd/system/*/"$prefix"-boot.service
  [ -d /run/systemd/system ] && systemctl daemon-reload
fi
for root in /run/"$prefix"/runtime /run/"$prefix"-*/runtime; do
  [ -d "$root" ] || continue
  for rt in runc crun; do
    command -v $rt >/dev/null || continue
    for id in $($rt --root "$root" list -q 2>/dev/null); do $rt --root "$root" delete -f "$id" 2>/dev/null; done
  done
done
while read -r _ mnt fstype _; do
  case $fstype in cgroup|cgroup2) ;; *) continue ;; esac
  for top in "$mnt/$prefix" "$mnt/$prefix"-*; do
    [ -d "$top" ] || continue
    find "$top" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
    sleep 0.2
    find "$top" -depth -type d -exec rmdir {} + 2>/dev/null
  done
done </proc/mounts
# an lxcfs outside its cgroup (the loop that restarts it is in the cgroup, killed above)
for p in $(pgrep -x lxcfs 2>/dev/null); do
  case " $(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" in *" /run/$prefix/lxcfs "*) kill -9 "$p" ;; esac
done
# log writers outside the prefix's cgroups (tee -a <bundle>/log)
for p in $(pgrep -x tee 2>/dev/null); do
  case " $(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" in *" /var/lib/$prefix/"*|*" /var/lib/$prefix-"*) kill -9 "$p" ;; esac
done
grep -E " /(run|var/lib)/$prefix" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
# loop devices of disk images left attached (a lazy umount, a killed create): detached before their files go
losetup -nl -O NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
  case $back in /var/lib/"$prefix"/*|/var/lib/"$prefix"-*) losetup -d "$dev" ;; esac
done
rm -rf /run/"$prefix" /run/"$prefix"-* /var/lib/"$prefix"-* 2>/dev/null
[ "$prefix" = kslice ] || rm -rf /var/lib/"$prefix"
# the default prefix keeps its templates: only claims of user-namespace ranges whose bundle is gone go
if [ "$prefix" = kslice ]; then
  for r in /var/lib/kslice/uid-ranges/*; do [ -e "$r" ] && [ ! -d "/var/lib/kslice/containers/$(cat "$r")" ] && rm -f "$r"; done
  rmdir /var/lib/kslice/uid-ranges 2>/dev/null
fi
for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do case $n in "$prefix"-*) ip netns delete "$n" ;; esac; done
for f in /sys/class/net/ks*/ifalias; do
  [ -e "$f" ] || continue
  case $(cat "$f" 2>/dev/null) in "$prefix"/*|"$prefix"-*/*) d=${f%/ifalias}; ip link del dev "${d##*/}" 2>/dev/null ;; esac
done
nft list tables 2>/dev/null | while read -r _ f t; do
  case $t in "$prefix"|"$prefix"-*) nft delete table "$f" "$t" ;; esac
done
exit 0
