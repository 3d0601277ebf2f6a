#!/usr/bin/env bash
# npm run bench [-- N ...] [--no-podman] [--no-network] [--parallel P] [--subnet CIDR] — kslice against the engine floor,
# raw runc and podman, measured in one run (bench/containers.ts). Prints figures, ratios, the targets of
# issue 12 and README markdown; with two N or more writes bench/results/<date>-N<…>.svg and .png.
# Asserts nothing. Exits non-zero only when a step fails or something is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (cgroups, runc, podman)" >&2; exit 1; }
bash scripts/setup.sh
if ! command -v podman >/dev/null; then
  echo "[bench] podman is missing: installing it with apt-get (the peer baseline)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null \
    || echo "[bench] apt-get install podman failed: the podman baseline will be reported unavailable" >&2
fi
npx tsc -p tsconfig.json
exec node dist/bench/containers.js "$@"
