#!/usr/bin/env bash
# GitOps for a kslice project, as a pipeline calls it.
#
# On every branch: `pulumi preview --refresh --expect-no-changes` compares what the host's kernel
# reports now with what this repository declares; any difference fails the job with a table naming
# each resource and property. On the main branch the repository is applied (`pulumi up --yes`),
# then checked again, so a host that drifted is put back and a perpetual diff still fails.
#
# Usage: ci.sh [--apply | --check-only] [--stack NAME] [--cwd PROJECT_DIR]
#   The branch comes from CI_BRANCH or GITHUB_REF_NAME; "main" (CI_MAIN_BRANCH) applies.
#   The Pulumi backend and passphrase come from the environment (PULUMI_BACKEND_URL,
#   PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE), the stack from --stack or PULUMI_STACK.
# Exit: 0 the host matches the repository (after applying, on main); 1 it differs;
#       2 bad usage or a missing tool; 3 pulumi failed (the program, the host, the backend).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$here
stack=${PULUMI_STACK:-}
branch=${CI_BRANCH:-${GITHUB_REF_NAME:-}}
mode=auto

usage() { sed -n '9,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --apply) mode=apply; shift ;;
    --check-only) mode=check; shift ;;
    --stack) stack=${2:?--stack needs a name}; shift 2 ;;
    --cwd) dir=${2:?--cwd needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "ci.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ "$mode" = auto ]; then
  if [ "$branch" = "${CI_MAIN_BRANCH:-main}" ]; then mode=apply; else mode=check; fi
fi
for tool in pulumi jq column; do
  command -v "$tool" >/dev/null || { echo "ci.sh: $tool is not on PATH" >&2; exit 2; }
done

args=(--non-interactive)
[ -n "$stack" ] && args+=(--stack "$stack")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$dir"

# Compares the kernel with the repository. Returns 0 when equal, 1 with the report printed when
# not, 3 when the preview itself failed (its errors printed).
check() {
  local rc=0
  pulumi preview --refresh --expect-no-changes --json "${args[@]}" >"$work/preview.json" 2>"$work/preview.err" || rc=$?
  if ! jq -e '.steps | type == "array"' "$work/preview.json" >/dev/null 2>&1; then
    echo "ci.sh: pulumi preview failed (exit $rc):" >&2
    jq -r '.diagnostics[]? | select(.severity == "error") | .message' "$work/preview.json" 2>/dev/null >&2 || true
    cat "$work/preview.err" >&2
    return 3
  fi
  if [ "$rc" = 0 ] && jq -e '[.steps[] | select(.op | IN("update", "replace", "create", "delete"))] | length == 0' "$work/preview.json" >/dev/null; then
    echo "in sync: the host matches the repository ($(jq -r '.changeSummary | to_entries | map("\(.value) \(.key)") | join(", ")' "$work/preview.json"))"
    return 0
  fi
  jq -r -f "$here/drift-report.jq" "$work/preview.json" >"$work/rows.tsv"
  if [ ! -s "$work/rows.tsv" ]; then
    # no changing step, yet the preview failed: show why
    echo "ci.sh: pulumi preview failed (exit $rc):" >&2
    jq -r '.diagnostics[]?.message' "$work/preview.json" >&2
    cat "$work/preview.err" >&2
    return 3
  fi
  echo "DRIFT: the host differs from the repository ($(jq -r '.changeSummary | to_entries | map(select(.key != "same")) | map("\(.value) to \(.key)") | join(", ")' "$work/preview.json"))"
  echo
  { printf 'RESOURCE\tSTEP\tPROPERTY\tON THE HOST\tIN THE REPOSITORY\tCHANGED\n'; cat "$work/rows.tsv"; } | column -t -s $'\t'
  echo
  return 1
}

rc=0
check || rc=$?
if [ "$mode" = check ] || [ "$rc" = 3 ]; then
  [ "$rc" = 1 ] && echo "pulumi up on the main branch (or ci.sh --apply) puts the host back as the repository declares it."
  exit "$rc"
fi

echo "applying the repository to the host (branch ${branch:-?})"
pulumi up --yes --refresh --skip-preview "${args[@]}" || { echo "ci.sh: pulumi up failed" >&2; exit 3; }
# after an up, any difference left is a perpetual diff or a change that did not take
rc=0
check || rc=$?
exit "$rc"
