#!/usr/bin/env bash
# npm run demo: sets up what is missing, then runs examples/quickstart on the local host through the
# real Pulumi engine (file backend under .pulumi-state/) and prints its outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/scripts/stack.js up examples/quickstart
cat <<'MSG'

The stack "dev" of examples/quickstart is up; its state is in .pulumi-state/.
  show drift and changes:  npm run -s stack -- preview examples/quickstart --refresh
  destroy it:              npm run -s stack -- destroy examples/quickstart
MSG
