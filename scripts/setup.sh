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
  # from an empty dist: a module moved or removed must not stay behind for require() to find first
  rm -rf dist
  npx tsc -p tsconfig.json
  touch dist/.stamp
else
  log "build: up to date"
fi
# 5. The Node.js language host `pulumi up` starts in a project directory. The official one cannot be
# had here, so a stand-in (scripts/language-host.ts) goes beside the CLI, unless a real one is there
# or on PATH. It is a copy plus a wrapper, so it works for projects outside this repository; the
# project's own @pulumi/pulumi serves it, this repository's when the project has none installed.
host="$bin/pulumi-language-nodejs"
other=$(command -v pulumi-language-nodejs 2>/dev/null || true)
if { [ -n "$other" ] && [ "$other" != "$host" ]; } || { [ -e "$host" ] && ! grep -q 'kslice stand-in' "$host"; }; then
  log "language host: using ${other:-$host}"
elif ! cmp -s dist/scripts/language-host.js "$host.js" || ! grep -q "KSLICE_LANGUAGE_HOST_SDK:-$PWD}" "$host" 2>/dev/null; then
  install -m 0644 dist/scripts/language-host.js "$host.js"
  printf '#!/bin/sh\n# kslice stand-in for the Node.js language host (kslice: scripts/language-host.ts)\nKSLICE_LANGUAGE_HOST_SDK=${KSLICE_LANGUAGE_HOST_SDK:-%s} exec node "$(dirname "$0")/pulumi-language-nodejs.js" "$@"\n' "$PWD" > "$host.tmp"
  chmod 0755 "$host.tmp" && mv "$host.tmp" "$host"
  log "language host: installed kslice's stand-in as $host"
else
  log "language host: kslice's stand-in at $host"
fi
log "done in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s (pulumi: $bin)"
