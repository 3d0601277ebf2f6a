#!/usr/bin/env bash
# npm test: setup, type-check, lint, then every tier. Kernel-touching tiers run under a prefix of
# their own (kslice-t<random>) and a leak check after each fails the run if anything is left.
# The lab tier (cgroup v2 guests under QEMU, a prefix of its own) runs in the background beside the
# unit, kernel and e2e tiers, its output kept apart and printed when it ends: alone it keeps about one
# of 2 cores busy (its guests mostly run one process at a time), and the host tiers take the other.
# KSLICE_TEST_LAB_LATE names lab files that boot guests of their own (e.g. "crash fleet") to run as a
# second stream, with a prefix of their own, once the host tiers are done. Not the default: on 2
# cores the machine was then 99% busy and an SSH banner exchange with a guest timed out.
# KSLICE_TEST_LAB_BESIDE=0 runs the lab tier after the host tiers instead (its streams at once).
# At the end, whatever happened, a table gives each tier's wall time and test counts, each lab
# file's wall time and the VM boots, and how busy the cores were (scripts/test-table.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
now() { date +%s%3N; }
start=$(now)
results=$(mktemp -d "${TMPDIR:-/tmp}/kslice-test-XXXXXX")
export KSLICE_LAB_BOOT_LOG=$results/lab-boots.jsonl
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(now)" "$3" >>"$results/tiers.tsv"; }
cpumark() { printf '%s\t%s\t%s\n' "$1" "$(now)" "$(head -1 /proc/stat)" >>"$results/cpu.tsv"; }
cpumark start
lab_pid=
killtree() { local c; for c in $(pgrep -P "$1"); do killtree "$c"; done; kill "$1" 2>/dev/null || true; }
finish() {
  rc=$?
  [ -n "$lab_pid" ] && kill -- "-$lab_pid" 2>/dev/null
  [ -n "${late_pid:-}" ] && killtree "$late_pid"
  cpumark end
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
# The late stream: those of them named in KSLICE_TEST_LAB_LATE (a file of the shared guests would
# boot guests of its own there, so only these qualify).
late_lab_files=$(for n in ${KSLICE_TEST_LAB_LATE:-}; do
  f=test/lab/$n.lab.test.ts
  if printf '%s\n' "$own_lab_files" | grep -qxF "$f"; then echo "$f"; else echo "KSLICE_TEST_LAB_LATE: $n is not a lab file whose guests are its own; it runs in the first stream" >&2; fi
done)
late_prefix=$(newprefix)
late_pid=

# lab_main [name in the table]: the lab files but the late ones, on the tier's shared guests
lab_main() {
  local f excludes=()
  for f in $late_lab_files; do excludes+=("--exclude=$f"); done
  KSLICE_TEST_PREFIX=$lab_prefix tier lab "${1:-lab}" "${excludes[@]}" && leakcheck lab "$lab_prefix"
}

# late_start [name in the table]: the late files in the background, each booting its own guests
late_start() {
  [ -n "$late_lab_files" ] || return 0
  echo "== lab tier, late stream ($(echo $late_lab_files | xargs -n1 basename | tr '\n' ' ')prefix $late_prefix): started beside, its output follows when it ends"
  # shellcheck disable=SC2086 # one file name per word
  (KSLICE_TEST_PREFIX=$late_prefix KSLICE_LAB_SHARED=0 tier lab "${1:-lab-late}" $late_lab_files && leakcheck lab-late "$late_prefix") >"$results/lab-late.log" 2>&1 &
  late_pid=$!
}

# late_wait: its exit status, after its output
late_wait() {
  local rc=0
  [ -n "$late_pid" ] || return 0
  wait "$late_pid" || rc=$?
  late_pid=
  echo "== lab tier, late stream (ran beside)"
  cat "$results/lab-late.log"
  return "$rc"
}

has_lab=$([ -n "$(find test -name '*.lab.test.ts' -print -quit)" ] && echo 1 || true)
beside=$([ -n "$has_lab" ] && [ "${KSLICE_TEST_LAB_BESIDE:-1}" != 0 ] && echo 1 || true)

if [ -n "$beside" ]; then
  echo "== lab tier: started beside the others, its output follows when it ends"
  set -m # its own process group, so that a failing run stops the whole of it
  lab_main "lab&" >"$results/lab.log" 2>&1 &
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
cpumark host-tiers

if [ -n "$beside" ]; then
  late_start "lab-late&"
  lab_rc=0
  wait "$lab_pid" || lab_rc=$?
  lab_pid=
  echo "== lab tier (ran beside the others)"
  cat "$results/lab.log"
  late_rc=0
  late_wait || late_rc=$?
  [ "$lab_rc" = 0 ] || exit "$lab_rc"
  [ "$late_rc" = 0 ] || exit "$late_rc"
elif [ -n "$has_lab" ]; then
  echo "== lab tier"
  late_start
  lab_rc=0
  lab_main || lab_rc=$?
  late_rc=0
  late_wait || late_rc=$?
  [ "$lab_rc" = 0 ] || exit "$lab_rc"
  [ "$late_rc" = 0 ] || exit "$late_rc"
fi

# SSH transports remove their temp dir on exit; provider processes the engine killed cannot.
for d in /tmp/kslice-ssh-*; do
  pid=$(basename "$d" | sed -n 's/^kslice-ssh-\([0-9]*\)-.*/\1/p')
  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$d"
done
echo "== all tiers passed"
