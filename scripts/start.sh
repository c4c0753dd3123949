#!/usr/bin/env bash
# Runs the gateway on proxy.yaml: installs npm packages on a fresh clone, builds, serves.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
exec node dist/src/cli/main.js serve --config proxy.yaml "$@"
