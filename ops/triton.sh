#!/usr/bin/env bash
# Starts, stops and reports a local tritonserver from the nvidia-pytriton wheel (prepared by ops/setup.sh).
#
# Usage:
#   ops/triton.sh start  [options] [MODEL...]   load MODEL... (default: every <repo>/* with 1/*.onnx); waits until
#                                               the server and each model are ready; no-op if already running
#   ops/triton.sh stop   [--run-dir DIR]        TERM, then KILL after TRITON_STOP_GRACE_SECONDS; ok if not running
#   ops/triton.sh status [--run-dir DIR]        exit 0 ready, 1 running but not ready, 3 not running
# Options (flag, else environment variable, else default):
#   --model-repository DIR  TRITON_MODEL_REPOSITORY  triton-models/cpu
#   --grpc-port N           TRITON_GRPC_PORT         8001
#   --http-port N           TRITON_HTTP_PORT         8000
#   --metrics-port N        TRITON_METRICS_PORT      8002
#   --run-dir DIR           TRITON_RUN_DIR           .run/triton  (triton.pid, triton.log, server.env)
#   --timeout SECONDS       TRITON_START_TIMEOUT     120          (readiness wait of start)
# Other environment: TRITON_LOG_VERBOSE (default 0), TRITON_STOP_GRACE_SECONDS (default 20); TRITON_GRPC_TLS_CERT and
# TRITON_GRPC_TLS_KEY (PEM files) serve gRPC over TLS, mutual TLS when TRITON_GRPC_TLS_CLIENT_CA is set too (HTTP,
# which the readiness wait uses, stays plaintext).
# The python models inherit tritonserver's environment: the integration tests' model repository
# (test/triton/build-model-repository.sh) reads RERANK_FAULT_INJECTION_DIR there; the product's models read nothing.
# Relative paths are taken from the caller's directory; the defaults from the repository root.
# Servers listen on 127.0.0.1 only. Several may run at once with distinct ports and run dirs.
set -euo pipefail

readonly CALLER_DIR="$PWD"
REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
readonly REPO_ROOT
readonly RUNTIME_ENV_FILE="$REPO_ROOT/.run/triton/runtime.env"
readonly BACKENDS_DIR="$REPO_ROOT/.run/triton/backends"
readonly VENV_BIN="$REPO_ROOT/.venv/bin"
readonly LOOPBACK=127.0.0.1
readonly LOG_TAIL_LINES=40

log() { printf 'triton: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
from_caller() { [[ "$1" == /* ]] && printf '%s\n' "$1" || printf '%s\n' "$CALLER_DIR/$1"; }
from_repo() { [[ "$1" == /* ]] && printf '%s\n' "$1" || printf '%s\n' "$REPO_ROOT/$1"; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

parse_arguments() {
  model_repository="$(from_caller "${TRITON_MODEL_REPOSITORY:-$REPO_ROOT/triton-models/cpu}")"
  grpc_port="${TRITON_GRPC_PORT:-8001}"
  http_port="${TRITON_HTTP_PORT:-8000}"
  metrics_port="${TRITON_METRICS_PORT:-8002}"
  run_dir="$(from_caller "${TRITON_RUN_DIR:-$REPO_ROOT/.run/triton}")"
  start_timeout="${TRITON_START_TIMEOUT:-120}"
  requested_models=()
  while (($#)); do
    case "$1" in
      --model-repository) model_repository="$(from_caller "${2:?$1 needs a value}")"; shift 2 ;;
      --grpc-port) grpc_port="${2:?$1 needs a value}"; shift 2 ;;
      --http-port) http_port="${2:?$1 needs a value}"; shift 2 ;;
      --metrics-port) metrics_port="${2:?$1 needs a value}"; shift 2 ;;
      --run-dir) run_dir="$(from_caller "${2:?$1 needs a value}")"; shift 2 ;;
      --timeout) start_timeout="${2:?$1 needs a value}"; shift 2 ;;
      -h | --help) usage ;;
      -*) log "unknown option $1"; usage ;;
      *) requested_models+=("$1"); shift ;;
    esac
  done
  pid_file="$run_dir/triton.pid"
  log_file="$run_dir/triton.log"
  server_env_file="$run_dir/server.env"
}

# The pid of this run dir's tritonserver if it is alive (a stale pid file, or a reused pid, yields nothing).
running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  # A killed server stays a zombie where PID 1 does not reap orphans (containers): that is not running.
  [[ "$(ps -o comm=,stat= -p "$pid" 2>/dev/null)" =~ ^tritonserver\ +[^Z\ ] ]] && printf '%s\n' "$pid"
}

http_ok() { curl --silent --fail --output /dev/null --max-time 2 "http://$LOOPBACK:$1$2"; }

models_ready() {
  local port="$1" model
  shift
  http_ok "$port" /v2/health/ready || return 1
  for model in "$@"; do
    http_ok "$port" "/v2/models/$model/ready" || return 1
  done
}

port_in_use() { (exec 3<>"/dev/tcp/$LOOPBACK/$1") 2>/dev/null; }

# Error lines first: on a failed start they are often above the server's long option table.
print_log_tail() {
  log "errors in $log_file:"
  grep -E '^(E[0-9]{4} |error: )' "$log_file" >&2 || true
  log "last $LOG_TAIL_LINES lines of $log_file:"
  tail -n "$LOG_TAIL_LINES" "$log_file" >&2 || true
}

# Polls until the server and the models are ready; fails early if the process dies.
wait_until_ready() {
  local pid="$1" port="$2" deadline=$((SECONDS + start_timeout))
  shift 2
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || { log "tritonserver (pid $pid) exited during startup"; return 1; }
    models_ready "$port" "$@" && return 0
    sleep 0.5
  done
  log "not ready after ${start_timeout}s (models: $*)"
  return 1
}

# Models whose weights are in place: a config without its version folder's files (e.g. a production model
# not exported yet) is skipped, so the repository can hold configs for models a machine does not have.
discover_models() {
  local config dir
  for config in "$model_repository"/*/config.pbtxt; do
    dir="$(dirname "$config")"
    if compgen -G "$dir/1/*.onnx" >/dev/null; then
      basename "$dir"
    elif [[ -f "$config" ]]; then
      log "skipping $(basename "$dir"): no weights in $dir/1/"
    fi
  done
}

start() {
  [[ -f "$RUNTIME_ENV_FILE" ]] || die "$RUNTIME_ENV_FILE is missing: run ops/setup.sh first"
  # shellcheck source=/dev/null
  source "$RUNTIME_ENV_FILE"
  local models=("${requested_models[@]}")
  ((${#models[@]})) || mapfile -t models < <(discover_models)
  ((${#models[@]})) || die "no models to load: no */config.pbtxt with weights in $model_repository"

  local pid
  if pid="$(running_pid)"; then
    # shellcheck source=/dev/null
    source "$server_env_file"
    log "already running (pid $pid, http port $SERVER_HTTP_PORT)"
    # Ready means its startup models are loaded; with explicit model control it will not load others by itself.
    wait_until_ready "$pid" "$SERVER_HTTP_PORT" || { print_log_tail; exit 1; }
    models_ready "$SERVER_HTTP_PORT" "${models[@]}" || die "it does not serve all of ${models[*]}: stop it first"
    log "ready"
    return
  fi
  local port
  for port in "$grpc_port" "$http_port" "$metrics_port"; do
    ! port_in_use "$port" || die "port $port on $LOOPBACK is already in use"
  done

  mkdir -p "$run_dir"
  local arguments=(
    --model-repository="$model_repository"
    --backend-directory="$BACKENDS_DIR"
    --model-control-mode=explicit
    --grpc-address="$LOOPBACK" --grpc-port="$grpc_port"
    --http-address="$LOOPBACK" --http-port="$http_port"
    --metrics-address="$LOOPBACK" --metrics-port="$metrics_port"
    # Python models talk to their stub processes through /dev/shm regions; distinct prefixes keep concurrent
    # servers apart (python_backend README, "Running Multiple Instances of Triton Server").
    --backend-config="python,shm-region-prefix-name=rerank_gateway_${grpc_port}_"
    --log-verbose="${TRITON_LOG_VERBOSE:-0}"
    --exit-timeout-secs=10  # graceful shutdown wait for in-flight requests, below the stop grace period
  )
  if [[ -n "${TRITON_GRPC_TLS_CERT:-}" ]]; then
    arguments+=(--grpc-use-ssl=true --grpc-server-cert="$(from_caller "$TRITON_GRPC_TLS_CERT")"
      --grpc-server-key="$(from_caller "${TRITON_GRPC_TLS_KEY:?TRITON_GRPC_TLS_CERT needs TRITON_GRPC_TLS_KEY}")")
    if [[ -n "${TRITON_GRPC_TLS_CLIENT_CA:-}" ]]; then
      arguments+=(--grpc-use-ssl-mutual=true --grpc-root-cert="$(from_caller "$TRITON_GRPC_TLS_CLIENT_CA")")
    fi
  fi
  for model in "${models[@]}"; do
    arguments+=(--load-model="$model")
  done
  log "starting tritonserver (grpc $LOOPBACK:$grpc_port, http $LOOPBACK:$http_port, metrics $LOOPBACK:$metrics_port)"
  log "models: ${models[*]} from $model_repository; log: $log_file"
  # The python backend stub embeds libpython and finds the venv (numpy, onnxruntime) through the first `python3`
  # on PATH; setsid gives the server and its stubs their own process group for stop.
  PATH="$VENV_BIN:$PATH" \
    LD_LIBRARY_PATH="$TRITON_LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 \
    setsid "$TRITONSERVER_BIN" "${arguments[@]}" >"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pid_file"
  printf 'SERVER_HTTP_PORT=%s\nSERVER_GRPC_PORT=%s\nSERVER_METRICS_PORT=%s\n' \
    "$http_port" "$grpc_port" "$metrics_port" >"$server_env_file"

  if ! wait_until_ready "$pid" "$http_port" "${models[@]}"; then
    print_log_tail
    stop
    exit 1
  fi
  log "ready (pid $pid)"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping tritonserver (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + ${TRITON_STOP_GRACE_SECONDS:-20}))
    while running_pid >/dev/null && ((SECONDS < deadline)); do
      sleep 0.2
    done
    running_pid >/dev/null && log "still running after the grace period: killing"
  else
    log "not running"
  fi
  # The whole process group (the server runs under setsid): the server if it is still there, and any python
  # stub it left behind, also after a crash or kill -9 of the server.
  [[ -f "$pid_file" ]] && { kill -KILL -- "-$(cat "$pid_file")" 2>/dev/null || true; }
  rm -f "$pid_file"
  log "stopped"
}

status() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "not running"
    exit 3
  fi
  # shellcheck source=/dev/null
  source "$server_env_file"
  if models_ready "$SERVER_HTTP_PORT"; then
    echo "running, ready (pid $pid, grpc $LOOPBACK:$SERVER_GRPC_PORT, http $LOOPBACK:$SERVER_HTTP_PORT)"
  else
    echo "running, not ready (pid $pid, grpc $LOOPBACK:$SERVER_GRPC_PORT, http $LOOPBACK:$SERVER_HTTP_PORT)"
    exit 1
  fi
}

command="${1:-}"
(($#)) && shift
parse_arguments "$@"
case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
