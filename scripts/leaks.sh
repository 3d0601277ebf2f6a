#!/usr/bin/env bash
# leaks.sh PREFIX — lists kernel objects a kslice run with PREFIX left behind; exits 1 if any.
# Mirrors the conventions of DESIGN.md: cgroups <prefix>* at the root of every hierarchy, runtime
# state /run/<prefix>*, host state /var/lib/<prefix>*, netns <prefix>-*, mounts under those dirs.
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
    continue
  fi
  say "dir $d"
done
while read -r _ m _; do
  case $m in /run/"$prefix"/*|/run/"$prefix"-*|/var/lib/"$prefix"/*|/var/lib/"$prefix"-*) say "mount $m" ;; esac
done </proc/mounts
for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case $n in "$prefix"-*) say "netns $n" ;; esac
done
exit $found
