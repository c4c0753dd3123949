#!/usr/bin/env bash
# Makes sure the programs the test suite runs for real are installed.
# As root with apt-get it installs what is missing; otherwise it says exactly what to install.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [electrum]=electrum          # the real wallet of the end-to-end tests
  [redis-server]=redis-server  # shared cache and shared cost budgets
  [danted]=dante-server        # SOCKS4/5 upstreams
  [microsocks]=microsocks      # SOCKS5 with a password
  [openssl]=openssl            # test certificates for TLS and WSS
  [haproxy]=haproxy            # the benchmark harness's baseline
  [prometheus]=prometheus      # scrapes a live gateway to check the dashboards and alerts (promtool too)
)

missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test dependencies: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "The test suite needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
