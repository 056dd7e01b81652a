#!/usr/bin/env bash
# Installs the official Cohere Python SDK, pinned in test/integration/cohere-sdk/requirements.txt, into .venv-sdk for
# test/integration/cohere-sdk.test.ts; skips when the venv already holds exactly what that file pins.
# Usage: ops/install-cohere-sdk.sh      (env PYTHON: interpreter that creates the venv, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly PYTHON="${PYTHON:-python3}"
readonly VENV_DIR=.venv-sdk
readonly REQUIREMENTS=test/integration/cohere-sdk/requirements.txt
readonly STAMP="$VENV_DIR/.requirements.sha256"

log() { printf 'cohere-sdk: %s\n' "$*"; }

wanted="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if "$VENV_DIR/bin/python" -c '' 2>/dev/null && [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
  log "$VENV_DIR up to date"
  exit 0
fi
if ! "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
  log "creating $VENV_DIR ($("$PYTHON" --version))"
  rm -rf "$VENV_DIR"
  "$PYTHON" -m venv "$VENV_DIR"
fi
log "installing $REQUIREMENTS into $VENV_DIR"
"$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$REQUIREMENTS"
echo "$wanted" >"$STAMP"
