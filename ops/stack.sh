#!/usr/bin/env bash
# Brings the local stack (Triton on CPU + the gateway) up or down; idempotent.
#   ops/stack.sh up      install what is missing, build, start Triton and the gateway, rerank the sample
#   ops/stack.sh down    stop both
# Ports: RERANK_LISTEN (default 127.0.0.1:50051), TRITON_GRPC_PORT (8001), TRITON_HTTP_PORT (8000), TRITON_METRICS_PORT (8002).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly RUN_DIR=.run/gateway
readonly PID_FILE="$RUN_DIR/gateway.pid"
readonly LOG_FILE="$RUN_DIR/gateway.log"
export RERANK_LISTEN="${RERANK_LISTEN:-127.0.0.1:50051}"
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
    log "up: gateway $RERANK_LISTEN, Triton $TRITON_GRPC_URL; stop with: ops/stack.sh down"
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
