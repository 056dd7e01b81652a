#!/usr/bin/env bash
# Installs the command-line tools the tests drive, pinned, into .run/bin, and skips what is already there:
#   .run/bin/grpcurl   grpcurl (https://github.com/fullstorydev/grpcurl), built from the Go module proxy with
#                      `go install`; a cold install downloads and compiles it in about 4 minutes on 2 busy cores
# Usage: ops/install-tools.sh   (needs Go and network access to the Go module proxy on the first run)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly GRPCURL_VERSION=v1.9.4
readonly BIN_DIR="$PWD/.run/bin"

log() { printf 'tools: %s\n' "$*"; }

# `go install` leaves grpcurl's version unset; stamping it in with -X lets `grpcurl -version` say whether the
# binary is the pinned one.
install_grpcurl() {
  local binary="$BIN_DIR/grpcurl"
  if [[ -x "$binary" && "$("$binary" -version 2>&1)" == "grpcurl $GRPCURL_VERSION" ]]; then
    log "grpcurl $GRPCURL_VERSION up to date"
    return
  fi
  command -v go >/dev/null || { log "go is needed to install grpcurl $GRPCURL_VERSION" >&2; exit 1; }
  log "installing grpcurl $GRPCURL_VERSION into .run/bin (go install)"
  GOBIN="$BIN_DIR" go install -ldflags "-X main.version=$GRPCURL_VERSION" \
    "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
}

install_grpcurl
