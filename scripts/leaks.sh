#!/usr/bin/env bash
# leaks.sh PREFIX — lists kernel objects a kslice run with PREFIX left behind; exits 1 if any.
# Mirrors ARCHITECTURE.md, "Where kslice keeps things on a host": cgroups <prefix>* at the root of every hierarchy, runtime
# state /run/<prefix>*, host state /var/lib/<prefix>*, netns <prefix>-*, mounts under those dirs,
# loop devices backed by a file there (containers' disk images),
# interfaces whose alias starts with "<prefix>/", the nftables table named after the prefix, the
# boot unit <prefix>-boot.service, the supervisor's unit (its cgroup <prefix>-supervisor elsewhere)
# the prefix's lxcfs (unit <prefix>-lxcfs.service or cgroup <prefix>-lxcfs, its process, its mount)
# and containers' log writers (tee -a /var/lib/<prefix>/containers/<name>/log, in cgroup <prefix>-logs).
set -u
prefix=${1:?usage: leaks.sh PREFIX}
found=0
say() { echo "leak: $*"; found=1; }

while read -r _ mnt fstype _; do
  case $fstype in cgroup|cgroup2) ;; *) continue ;; esac
  for d in "$mnt/$prefix" "$mnt/$prefix".* "$mnt/$prefix"-*; do [ -d "$d" ] && say "cgroup $d"; done
done </proc/mounts
for d in /run/"$prefix" /run/"$prefix"-* /var/lib/"$prefix" /var/lib/"$prefix"-*; do
  [ -e "$d" ] || continue
  # the default prefix keeps cached templates in /var/lib/kslice: only bundles there are leaks
  if [ "$d" = /var/lib/kslice ]; then
    for b in /var/lib/kslice/containers/*; do [ -e "$b" ] && say "bundle $b"; done
    for r in /var/lib/kslice/uid-ranges/*; do [ -e "$r" ] && say "user-namespace range claim $r ($(cat "$r"))"; done
    continue
  fi
  say "dir $d"
done
while read -r _ m _; do
  case $m in /run/"$prefix"/*|/run/"$prefix"-*|/var/lib/"$prefix"/*|/var/lib/"$prefix"-*) say "mount $m" ;; esac
done </proc/mounts
# loop devices backed by a disk image under the prefix's state (a deleted image shows as "… (deleted)")
while read -r dev back; do
  case $back in /var/lib/"$prefix"/*|/var/lib/"$prefix"-*) say "loop device $dev ($back)" ;; esac
done < <(losetup -nl -O NAME,BACK-FILE 2>/dev/null)
for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case $n in "$prefix"-*) say "netns $n" ;; esac
done
# interfaces: kslice's start with "ks" and carry an alias "<prefix>/…" naming their owner
for f in /sys/class/net/ks*/ifalias; do
  [ -e "$f" ] || continue
  case $(cat "$f" 2>/dev/null) in "$prefix"/*|"$prefix"-*/*) d=${f%/ifalias}; say "link ${d##*/} ($(cat "$f"))" ;; esac
done
# the prefix's boot unit (enabled on systemd hosts) and its supervisor's transient unit
for f in /etc/systemd/system/"$prefix"-boot.service /etc/systemd/system/*/"$prefix"-boot.service; do
  [ -e "$f" ] || [ -L "$f" ] && say "unit file $f"
done
if [ -d /run/systemd/system ] && systemctl is-active -q "$prefix"-supervisor.service 2>/dev/null; then say "unit $prefix-supervisor.service"; fi
if [ -d /run/systemd/system ] && systemctl is-active -q "$prefix"-lxcfs.service 2>/dev/null; then say "unit $prefix-lxcfs.service"; fi
# lxcfs serving the prefix's mount, wherever it runs (its cgroup and mount are listed above)
for p in $(pgrep -x lxcfs 2>/dev/null); do
  case " $(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" in *" /run/$prefix/lxcfs "*) say "process $p lxcfs of /run/$prefix/lxcfs" ;; esac
done
# a container's log writer (tee -a <bundle>/log) outlasting its container, wherever it runs
for p in $(pgrep -x tee 2>/dev/null); do
  case " $(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" in *" /var/lib/$prefix/"*|*" /var/lib/$prefix-"*) say "process $p log writer $(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" ;; esac
done
# the prefix's nftables tables (ip: published ports, NAT, isolation; bridge: anti-spoofing)
while read -r _ f t; do
  case $t in "$prefix"|"$prefix"-*) say "nftables table $f $t" ;; esac
done < <(nft list tables 2>/dev/null)
exit $found
