#!/usr/bin/env bash
# Ensures a Pulumi CLI matching the pinned @pulumi/pulumi is available and prints its bin directory.
# The CLI cannot be downloaded here; it is built from the Go module proxy and cached outside the
# repository so later runs (and CI on this machine) reuse it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=${PULUMI_VERSION:-$(node -p "require('$here/package.json').dependencies['@pulumi/pulumi'].replace(/^[^0-9]*/, '')")}
cache=${KSLICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kslice}
bin="$cache/pulumi-v$version/bin"
log() { echo "[setup:pulumi] $*" >&2; }

nodejs_plugin() {
  # The dynamic-provider plugin ships in the npm package; the engine looks for it beside the CLI.
  local src="$here/node_modules/@pulumi/pulumi/vendor/pulumi-resource-pulumi-nodejs"
  [ -f "$src" ] || src=$(find "$here/node_modules/@pulumi/pulumi" -maxdepth 2 -name pulumi-resource-pulumi-nodejs | head -n1)
  [ -n "$src" ] && [ -f "$src" ] || { log "pulumi-resource-pulumi-nodejs not found in node_modules/@pulumi/pulumi (run npm ci)"; exit 1; }
  cmp -s "$src" "$1/pulumi-resource-pulumi-nodejs" 2>/dev/null || install -m 0755 "$src" "$1/pulumi-resource-pulumi-nodejs"
}

# 1. A compatible pulumi on PATH wins (same major.minor.patch as the SDK).
if onpath=$(command -v pulumi 2>/dev/null) && [ "$(dirname "$onpath")" != "$bin" ]; then
  if [ "$("$onpath" version 2>/dev/null)" = "v$version" ]; then
    d=$(dirname "$onpath"); [ -w "$d" ] && nodejs_plugin "$d"
    log "using $onpath (v$version)"; echo "$d"; exit 0
  fi
fi

# 2. The cached build.
if [ -x "$bin/pulumi" ] && [ "$("$bin/pulumi" version 2>/dev/null)" = "v$version" ]; then
  nodejs_plugin "$bin"; log "using cached $bin/pulumi (v$version)"; echo "$bin"; exit 0
fi

# 3. Build it.
if ! command -v go >/dev/null 2>&1; then
  log "no pulumi v$version on PATH and no Go toolchain to build it."
  log "Install the CLI with the official installer:  curl -fsSL https://get.pulumi.com | sh -s -- --version $version"
  exit 1
fi
log "building pulumi v$version from the Go module proxy into $bin (a few minutes, once)"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mod="$(go env GOMODCACHE)/cache/download/github.com/pulumi/pulumi/pkg/v3/@v/v$version.mod"
( cd "$work"
  go mod init kslice.local/pulumi-cli >/dev/null 2>&1
  go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$version" >/dev/null
  # pkg's go.mod replaces sdk with a relative path; pin sdk instead and copy its non-local replaces.
  go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$version" -require="github.com/pulumi/pulumi/sdk/v3@v$version"
  grep -E '^replace .* => [^.]' "$mod" | sed -E 's/^replace +([^ ]+)( [^ =]+)? => ([^ ]+) ([^ ]+)$/-replace=\1=\3@\4/' | xargs -r go mod edit
  printf 'package main\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > tools.go
  GOFLAGS=-mod=mod go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version" >/dev/null 2>&1 || true
  mkdir -p "$bin.tmp"
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp/pulumi" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi )
rm -rf "$bin"; mv "$bin.tmp" "$bin"
nodejs_plugin "$bin"
log "built $("$bin/pulumi" version) in $bin"
echo "$bin"
