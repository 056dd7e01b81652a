#!/usr/bin/env bash
# Installs and builds the generated gRPC clients (clients/*/README.md) from proto/rerank, and skips a client whose
# inputs (the protos, its sources and pinned versions, this script) have not changed since it was built:
#   .venv-clients/                            Python venv with clients/python/requirements.txt (pinned)
#   clients/python/gen/                       Python stubs (grpc_tools.protoc)
#   .run/bin/protoc-gen-go, protoc-gen-go-grpc  the Go plugins at clients/go/go.mod's tool versions
#   clients/go/gen/, clients/go/bin/rerank-client  Go stubs (buf generate) and the Go CLI
#   clients/java/target/rerank-client.jar     Java stubs (protobuf-maven-plugin) and the Java CLI, with dependencies
# Usage: ops/build-clients.sh [python|go|java ...]   (default: all three; env PYTHON: the venv's interpreter)
# Needs Python 3, Go (go.mod's version) and Java 17 + Maven, and the package registries on the first run.
set -euo pipefail
SELF="$(realpath "$0")"
readonly SELF
cd "$(dirname "$SELF")/.."

readonly PYTHON="${PYTHON:-python3}"
readonly STAMP_DIR=.run/clients
readonly VENV_DIR=.venv-clients
readonly VENV_PYTHON="$VENV_DIR/bin/python"
readonly PYTHON_REQUIREMENTS=clients/python/requirements.txt
readonly PROTO_DIR=proto
readonly RERANK_PROTOS="$PROTO_DIR/rerank"

log() { printf 'build-clients: %s\n' "$*"; }

# One digest of every file under the given paths and of this script: a client is rebuilt when it changes.
digest_of() {
  find "$@" "$SELF" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

# Runs `build` for a client unless its stamp holds the digest of its inputs and its output exists.
build_unless_done() {
  local client="$1" output="$2" build="$3"
  shift 3
  local stamp="$STAMP_DIR/$client.built-from" wanted
  wanted="$(digest_of "$@")"
  if [[ -e "$output" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    log "$client client up to date"
    return
  fi
  local started=$SECONDS
  rm -f "$stamp"
  "$build"
  mkdir -p "$STAMP_DIR"
  echo "$wanted" >"$stamp"
  log "$client client built in $((SECONDS - started)) s"
}

build_python() {
  if ! "$VENV_PYTHON" -c '' 2>/dev/null; then
    log "creating $VENV_DIR ($("$PYTHON" --version))"
    rm -rf "$VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR"
  fi
  log "installing $PYTHON_REQUIREMENTS into $VENV_DIR"
  "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check --requirement "$PYTHON_REQUIREMENTS"
  log "generating clients/python/gen"
  rm -rf clients/python/gen
  mkdir -p clients/python/gen
  find "$RERANK_PROTOS" -name '*.proto' -print0 | xargs -0 "$VENV_PYTHON" -m grpc_tools.protoc -I "$PROTO_DIR" \
    --python_out=clients/python/gen --pyi_out=clients/python/gen --grpc_python_out=clients/python/gen
}

build_go() {
  # The binaries need no VCS stamp, and stamping fails where git refuses the checkout (e.g. dubious ownership).
  export GOFLAGS=-buildvcs=false
  log "installing protoc-gen-go and protoc-gen-go-grpc (clients/go/go.mod's tools) into .run/bin"
  (cd clients/go && GOBIN="$PWD/../../.run/bin" go install tool)
  log "generating clients/go/gen"
  node_modules/.bin/buf generate --template clients/go/buf.gen.yaml --path "$RERANK_PROTOS"
  log "building clients/go/bin/rerank-client"
  (cd clients/go && go build -o bin/rerank-client .)
}

build_java() {
  local maven_log="$STAMP_DIR/maven.log"
  log "building clients/java/target/rerank-client.jar (Maven; output in $maven_log)"
  mkdir -p "$STAMP_DIR"
  # Maven 3.8's console library prints stray colour resets even in batch mode: its output is shown on failure only.
  if ! (cd clients/java && mvn --batch-mode --quiet package) >"$maven_log" 2>&1; then
    cat "$maven_log"
    log "the Java client failed to build"
    exit 1
  fi
}

clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=(python go java)
for client in "${clients[@]}"; do
  case "$client" in
    python)
      build_unless_done python clients/python/gen build_python "$RERANK_PROTOS" "$PYTHON_REQUIREMENTS" ;;
    go)
      build_unless_done go clients/go/bin/rerank-client build_go "$RERANK_PROTOS" \
        clients/go/go.mod clients/go/go.sum clients/go/buf.gen.yaml clients/go/*.go ;;
    java)
      build_unless_done java clients/java/target/rerank-client.jar build_java "$RERANK_PROTOS" \
        clients/java/pom.xml clients/java/src ;;
    *)
      log "unknown client $client (python, go or java)"
      exit 2 ;;
  esac
done
log "done"
