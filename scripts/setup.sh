#!/usr/bin/env bash
# Idempotent setup for the demo and the tests: Debian packages, npm dependencies, the Pulumi CLI,
# the self link that lets the dynamic provider require("kslice"), and the compiled package.
# A second run changes nothing and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s.%N)
log() { echo "[setup] $*" >&2; }

[ "$(uname -s)" = Linux ] || { log "kslice needs Linux (found $(uname -s))"; exit 1; }

# 1. Debian packages that are missing.
mapfile -t want < <(grep -vE '^\s*(#|$)' scripts/packages.txt)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"; exit 1; }
  command -v apt-get >/dev/null || { log "missing packages: ${missing[*]}; no apt-get on this host, install them with its package manager"; exit 1; }
  log "installing with apt: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all ${#want[@]} present"
fi

# 2. npm dependencies, when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.kslice-lock; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.kslice-lock
else
  log "npm dependencies: up to date"
fi
# The dynamic provider resolves require("kslice") from the project directory upwards.
[ "$(readlink node_modules/kslice 2>/dev/null)" = ".." ] || ln -sfn .. node_modules/kslice

# 3. The Pulumi CLI (cached outside the repository).
bin=$(bash scripts/setup-pulumi.sh)
echo "$bin" > node_modules/.kslice-pulumi-bin

# 4. The compiled package, when a source is newer than the build.
if [ ! -f dist/.stamp ] || [ -n "$(find provider schema examples scripts test/lab bench index.ts tsconfig.json package.json -newer dist/.stamp -name '*.ts' -print -quit 2>/dev/null)" ]; then
  log "tsc build"
  npx tsc -p tsconfig.json
  touch dist/.stamp
else
  log "build: up to date"
fi
log "done in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s (pulumi: $bin)"
