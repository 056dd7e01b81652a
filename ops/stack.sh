#!/usr/bin/env bash
# Brings the local stack (Triton on CPU + the gateway) up or down; idempotent.
#   ops/stack.sh up      install what is missing, build, start Triton and the gateway, rerank the sample (gRPC, HTTP)
#   ops/stack.sh down    stop both
# Ports: RERANK_LISTEN (default 127.0.0.1:50051), RERANK_HTTP_LISTEN (127.0.0.1:8080), TRITON_GRPC_PORT (8001), TRITON_HTTP_PORT (8000), TRITON_METRICS_PORT (8002).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly RUN_DIR=.run/gateway
readonly PID_FILE="$RUN_DIR/gateway.pid"
readonly LOG_FILE="$RUN_DIR/gateway.log"
export RERANK_LISTEN="${RERANK_LISTEN:-127.0.0.1:50051}"
export RERANK_HTTP_LISTEN="${RERANK_HTTP_LISTEN:-127.0.0.1:8080}"
export TRITON_GRPC_URL="127.0.0.1:${TRITON_GRPC_PORT:-8001}"

log() { printf 'stack: %s\n' "$*"; }
gateway_running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

start_gateway() {
  if gateway_running; then
    log "gateway already running (pid $(cat "$PID_FILE")) on $RERANK_LISTEN"
    return
  fi
  mkdir -p "$RUN_DIR"
  log "starting gateway on $RERANK_LISTEN (log: $LOG_FILE)"
  nohup node dist/src/main.js >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  # Started means SERVING on grpc.health.v1 (the default model is ready), never a line in the log.
  if ! node dist/tools/wait-serving.js "$RERANK_LISTEN" --timeout-seconds 30 --pid "$(cat "$PID_FILE")"; then
    tail -20 "$LOG_FILE"
    exit 1
  fi
}

# The same sample through the HTTP API (Cohere/Jina's shape), with the curl command that asks for it; the answer's
# JSON is printed whole, one result per line.
rerank_sample_over_http() {
  local url="http://$RERANK_HTTP_LISTEN/v1/rerank"
  log "the same sample over HTTP:"
  echo "curl -sS $url -H 'content-type: application/json' -d @examples/sample-request.json"
  curl -sS --fail-with-body "$url" -H 'content-type: application/json' -d @examples/sample-request.json |
    node -e 'let text = "";
      process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
        const answer = JSON.parse(text);
        const lines = answer.results.map((result) => "  " + JSON.stringify(result)).join(",\n");
        console.log(JSON.stringify(answer).replace(JSON.stringify(answer.results), `[\n${lines}\n]`));
      });'
}

stop_gateway() {
  if gateway_running; then
    local pid; pid="$(cat "$PID_FILE")"
    log "stopping gateway (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

case "${1:-}" in
  up)
    ops/setup.sh
    ops/install-node-packages.sh
    npm run --silent build
    ops/triton.sh start
    start_gateway
    node dist/tools/rerank-sample.js "$RERANK_LISTEN"
    rerank_sample_over_http
    log "up: gateway $RERANK_LISTEN (gRPC), $RERANK_HTTP_LISTEN (HTTP), Triton $TRITON_GRPC_URL; stop with: ops/stack.sh down"
    ;;
  down)
    stop_gateway
    ops/triton.sh stop
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
