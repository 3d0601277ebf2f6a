#!/usr/bin/env bash
# npm run demo: sets up what is missing, then builds a small real scene on this host through the real
# Pulumi engine (examples/quickstart: a tenant budget and network with three containers), shows drift being found
# and repaired, and says how to destroy it. State lives in .pulumi-state/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
stack() { node dist/scripts/stack.js "$1" examples/quickstart "${@:2}"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "pulumi up: a tenant budget and network with three containers"
stack up --json 2>/dev/null | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8")); const o = r.outputs;
  console.log(`pulumi v${r.pulumiVersion}; changes ${JSON.stringify(r.summary)}`);
  console.log(`host: ${o.host.kernelRelease}, cgroup ${o.host.cgroupMode}, ${o.host.cpuCount} CPUs, ${o.host.runtime}`);
  console.log(`tenant ${o.tenant.path}: ${JSON.stringify(o.tenant.limits)}`);
  console.log(`network: bridge ${o.network.bridge}, ${o.network.subnet}, gateway ${o.network.gateway}, NAT`);
  for (const [n, c] of Object.entries(o.containers)) {
    console.log(`  ${n.padEnd(7)} pid ${String(c.pid).padEnd(7)} ${c.status.padEnd(8)} ${(c.address ?? "loopback only").padEnd(14)} limits ${JSON.stringify(c.limits)}`);
  }'

say "kslice ps: usage against limits, read from the kernel (usage stays out of the stack)"
node dist/cli/main.js ps --prefix kslice

say "web's published port on the host: http://127.0.0.1:8080/"
busybox wget -q -O - http://127.0.0.1:8080/ 2>&1 | head -n 3 || true
echo "worker's log (it asks web by name over the tenant's network):"
sleep 1; tail -n 2 /var/lib/kslice/containers/worker/log

prefix=kslice
pids=$(ls /sys/fs/cgroup/pids/$prefix/tenant-a/web/pids.max /sys/fs/cgroup/$prefix/tenant-a/web/pids.max 2>/dev/null | head -n1 || true)
say "drift behind kslice's back: echo 99 > $pids, the worker container killed, web's port rule flushed"
echo 99 > "$pids"
nft flush chain ip $prefix ports
runtime=$(command -v runc >/dev/null && [ -d /run/$prefix/runtime ] && echo runc || echo crun)
$runtime --root /run/$prefix/runtime kill worker KILL
sleep 1

say "pulumi preview --refresh shows what differs from the declaration"
stack preview --refresh 2>&1 | grep -E '^\s+[~+-] |=>|to update|unchanged' || true

say "pulumi up repairs it"
stack up --json 2>/dev/null | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`changes ${JSON.stringify(r.summary)}; worker pid ${r.outputs.containers.worker.pid} ${r.outputs.containers.worker.status}`)'
echo "pids.max is $(cat "$pids") again; web answers on 127.0.0.1:8080 again: $(busybox wget -q -O - http://127.0.0.1:8080/ 2>&1 || true)"

say "a second preview shows no changes"
stack preview --expect-no-changes --json 2>/dev/null | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`changes ${JSON.stringify(r.summary)}`)'

cat <<'MSG'

The stack "dev" of examples/quickstart is up; its state is in .pulumi-state/.
  show drift and changes:  npm run -s stack -- preview examples/quickstart --refresh
  destroy it:              npm run -s stack -- destroy examples/quickstart
MSG
