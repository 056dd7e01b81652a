#!/usr/bin/env bash
# Installs the locked npm packages when node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "npm: installing locked packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
