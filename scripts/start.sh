#!/usr/bin/env bash
# Runs the gateway on proxy.yaml: installs npm packages on a fresh clone, builds, serves.
# The gateway replaces this shell (exec), and package.json's "start" execs this
# script, so a signal sent to npm's PID reaches the gateway itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
# Rebuild only when a source is newer than the build (tsc rewrites every output, main.js included).
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src tsconfig.json package.json -newer dist/src/cli/main.js -print -quit)" ]; then
  npm run build --silent
fi
exec node dist/src/cli/main.js serve --config proxy.yaml "$@"
