#!/usr/bin/env bash
# Load-tests the running gateway (make up) with ghz (https://ghz.sh), the usual gRPC benchmarking tool, using
# test/load/ghz.json: the quick start's sample request through server reflection (no .proto needed).
#   ops/ghz.sh [GHZ FLAGS...]   flags override the config, e.g. ops/ghz.sh --concurrency 8 --total 400
# Env: RERANK_ADDRESS (default: the config's host, 127.0.0.1:50051).
# The first run installs ghz into .run/bin with `go install` (needs Go and network access to the Go module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly GHZ_VERSION=v0.120.0
readonly GHZ_BIN="$PWD/.run/bin/ghz"

if [[ ! -x "$GHZ_BIN" ]]; then
  command -v go >/dev/null || { echo "ghz: go is needed to install ghz $GHZ_VERSION into .run/bin" >&2; exit 1; }
  echo "ghz: installing ghz $GHZ_VERSION into .run/bin" >&2
  GOBIN="$(dirname "$GHZ_BIN")" go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
fi
# Relative paths in the config (data-file) are read from the repository root, where this script runs ghz.
exec "$GHZ_BIN" --config test/load/ghz.json "$@" ${RERANK_ADDRESS:+"$RERANK_ADDRESS"}
