#!/usr/bin/env bash
# npm test: setup, type-check, lint, then every tier. Kernel-touching tiers run under a prefix of
# their own (kslice-t<random>) and a leak check after each fails the run if anything is left.
# The lab tier (cgroup v2 guests under QEMU, a prefix of its own) runs after them. With
# KSLICE_TEST_LAB_STREAMS=2 it runs as two streams at once, each with a prefix of its own: the files
# that share the tier's two guests, and beside them the files that boot their own because they
# crash, reboot or kill them. Not the default: on 2 cores the lab then took 3126 s instead of about
# 3330, the machine 95-100% busy, and guests of 1 vCPU were slow enough to time out SSH.
# The lab tier runs beside the unit, kernel and e2e tiers, its output kept apart and printed when it
# ends: alone it keeps about one of 2 cores busy (its guests mostly run one process at a time), and
# the host tiers take the other. KSLICE_TEST_LAB_BESIDE=0 runs it after them instead.
# At the end, whatever happened, a table gives each tier's wall time and test counts, each lab
# file's wall time and the VM boots (scripts/test-table.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
now() { date +%s%3N; }
start=$(now)
results=$(mktemp -d "${TMPDIR:-/tmp}/kslice-test-XXXXXX")
export KSLICE_LAB_BOOT_LOG=$results/lab-boots.jsonl
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(now)" "$3" >>"$results/tiers.tsv"; }
lab_pid=
lab_own_pid=
killtree() { local c; for c in $(pgrep -P "$1"); do killtree "$c"; done; kill "$1" 2>/dev/null || true; }
finish() {
  rc=$?
  [ -n "$lab_pid" ] && kill -- "-$lab_pid" 2>/dev/null
  [ -n "$lab_own_pid" ] && killtree "$lab_own_pid"
  [ -f dist/scripts/test-table.js ] && node dist/scripts/test-table.js "$results" "$start" || true
  rm -rf "$results"
  exit $rc
}
trap finish EXIT

s=$(now); bash scripts/setup.sh; record setup "$s" 0
echo "== typecheck and lint"
s=$(now); npm run -s typecheck; npm run -s lint; record static "$s" 0

newprefix() { echo "kslice-t$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
export KSLICE_TEST_PREFIX=${KSLICE_TEST_PREFIX:-$(newprefix)}
lab_prefix=${KSLICE_TEST_PREFIX_LAB:-$(newprefix)}
echo "== test prefix $KSLICE_TEST_PREFIX (lab tier: $lab_prefix)"

leakcheck() { # tier prefix
  if ! left=$(bash scripts/leaks.sh "$2"); then
    echo "$left"
    echo "FAIL: the $1 tier left kernel objects under $2; cleaning them up"
    bash scripts/cleanup.sh "$2" || true
    return 1
  fi
  echo "== leak check after $1: clean"
}

# tier PROJECT [NAME [VITEST ARGS…]]: runs one vitest project (or the files ARGS pick of it) with a
# JSON report, named after NAME (the table's name; a trailing & marks a run beside others)
tier() {
  local s rc=0 project=$1 name=${2:-$1}
  shift $(($# < 2 ? $# : 2))
  s=$(now)
  npx vitest run --project "$project" --reporter=default --reporter=json --outputFile.json="$results/${name%&}.json" "$@" || rc=$?
  record "$name" "$s" "$rc"
  return "$rc"
}

# The lab files whose every useLab boots guests of their own (they crash, reboot or kill them).
own_lab_files=$(for f in test/lab/*.lab.test.ts; do
  if [ -f "$f" ] && grep -q 'useLab(' "$f" && ! grep 'useLab(' "$f" | grep -vq 'own: true'; then echo "$f"; fi
done)

# lab_tier [name in the table]
lab_tier() {
  local name=${1:-lab} own_prefix own_pid rc=0 own_rc=0 files
  if [ -z "$own_lab_files" ] || [ "${KSLICE_TEST_LAB_STREAMS:-1}" != 2 ]; then
    KSLICE_TEST_PREFIX=$lab_prefix tier lab "$name" && leakcheck lab "$lab_prefix"
    return
  fi
  own_prefix=$(newprefix)
  echo "== lab tier, files with guests of their own (prefix $own_prefix): started beside, output follows when they end"
  # shellcheck disable=SC2086 # one file name per word
  (KSLICE_TEST_PREFIX=$own_prefix KSLICE_LAB_SHARED=0 tier lab "lab-own&" $own_lab_files && leakcheck lab-own "$own_prefix") >"$results/lab-own.log" 2>&1 &
  own_pid=$!
  lab_own_pid=$own_pid
  files=$(printf -- '--exclude=%s ' $own_lab_files)
  # shellcheck disable=SC2086
  KSLICE_TEST_PREFIX=$lab_prefix tier lab "$name" $files && leakcheck lab "$lab_prefix" || rc=$?
  wait "$own_pid" || own_rc=$?
  lab_own_pid=
  echo "== lab tier, files with guests of their own (ran beside)"
  cat "$results/lab-own.log"
  [ "$rc" = 0 ] || return "$rc"
  return "$own_rc"
}

has_lab=$([ -n "$(find test -name '*.lab.test.ts' -print -quit)" ] && echo 1 || true)
beside=$([ -n "$has_lab" ] && [ "${KSLICE_TEST_LAB_BESIDE:-1}" != 0 ] && echo 1 || true)

if [ -n "$beside" ]; then
  echo "== lab tier: started beside the others, its output follows when it ends"
  set -m # its own process group, so that a failing run stops the whole of it
  lab_tier "lab&" >"$results/lab.log" 2>&1 &
  lab_pid=$!
  set +m
fi

echo "== unit tier"
tier unit

for t in kernel e2e; do
  echo "== $t tier"
  tier "$t"
  leakcheck "$t" "$KSLICE_TEST_PREFIX"
done

if [ -n "$beside" ]; then
  lab_rc=0
  wait "$lab_pid" || lab_rc=$?
  lab_pid=
  echo "== lab tier (ran beside the others)"
  cat "$results/lab.log"
  [ "$lab_rc" = 0 ] || exit "$lab_rc"
elif [ -n "$has_lab" ]; then
  echo "== lab tier"
  lab_tier
fi

# SSH transports remove their temp dir on exit; provider processes the engine killed cannot.
for d in /tmp/kslice-ssh-*; do
  pid=$(basename "$d" | sed -n 's/^kslice-ssh-\([0-9]*\)-.*/\1/p')
  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$d"
done
echo "== all tiers passed"
