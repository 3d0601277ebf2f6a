#!/usr/bin/env bash
# npm test: setup, type-check, lint, then every tier. Kernel-touching tiers run under a prefix of
# their own (kslice-t<random>) and a leak check after each fails the run if anything is left.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck and lint"
npm run -s typecheck
npm run -s lint

export KSLICE_TEST_PREFIX=${KSLICE_TEST_PREFIX:-kslice-t$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')}
echo "== test prefix $KSLICE_TEST_PREFIX"

leakcheck() {
  if ! left=$(bash scripts/leaks.sh "$KSLICE_TEST_PREFIX"); then
    echo "$left"
    echo "FAIL: the $1 tier left kernel objects under $KSLICE_TEST_PREFIX; cleaning them up"
    bash scripts/cleanup.sh "$KSLICE_TEST_PREFIX" || true
    exit 1
  fi
  echo "== leak check after $1: clean"
}

tiers=(unit kernel e2e)
[ -n "$(find test -name '*.lab.test.ts' -print -quit)" ] && tiers+=(lab)
for tier in "${tiers[@]}"; do
  echo "== $tier tier"
  npx vitest run --project "$tier"
  [ "$tier" = unit ] || leakcheck "$tier"
done

# SSH transports remove their temp dir on exit; provider processes the engine killed cannot.
for d in /tmp/kslice-ssh-*; do
  pid=$(basename "$d" | sed -n 's/^kslice-ssh-\([0-9]*\)-.*/\1/p')
  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$d"
done
echo "== all tiers passed"
