#!/usr/bin/env bash
# lab.sh — the test lab by hand: real cgroup v2 hosts under QEMU, reached over SSH.
#   lab.sh image          build or find the cached VM image (prints the build time)
#   lab.sh up [N]         boot N VMs, print how to reach each (boot-to-SSH time, QEMU RSS); Ctrl-C stops them
#   lab.sh check [N]      boot N VMs, print hostname and cgroup v2 controllers of each, stop them
#   lab.sh down [--all]   kill and remove lab runs whose owner process died (--all: every run)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case ${1:-} in
  image) exec bash "$here/image.sh" >/dev/null ;;
esac
# The TypeScript runs through vite-node (comes with vitest); no build step needed.
runner=$root/node_modules/.bin/vite-node
[ -x "$runner" ] || { echo "lab.sh: $runner missing: run npm ci in $root" >&2; exit 1; }
exec "$runner" "$here/lab-cli.ts" -- "$@"
