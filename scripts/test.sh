#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every *.test.ts with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-test-deps.sh
rm -rf dist
npm run build --silent
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
exec node --test --test-reporter=spec "${files[@]}" "$@"
