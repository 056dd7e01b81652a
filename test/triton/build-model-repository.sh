#!/usr/bin/env bash
# Builds the integration tests' Triton model repository: the product's CPU models (triton-models/cpu), each served
# by the test-only model test/triton/fault_injecting_reranker.py (the shipped onnx_reranker model plus
# RERANK_FAULT_INJECTION_DIR). For every triton-models/cpu/<model>:
#   DIR/<model>/config.pbtxt  symlink to the product's config
#   DIR/<model>/1/<file>      symlink to each file of the product's 1/ (weights: *.onnx, *.onnx.data) but model.py
#   DIR/<model>/1/model.py    symlink to test/triton/fault_injecting_reranker.py
# A model without weights gets none here either, so ops/triton.sh skips it as it does in the product's repository.
# DIR is replaced as a whole.
# Usage: test/triton/build-model-repository.sh [DIR]   (default .run/test-model-repository; relative to the caller)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
readonly ROOT
readonly SOURCE="$ROOT/triton-models/cpu"
readonly TEST_MODEL="$ROOT/test/triton/fault_injecting_reranker.py"
output="${1:-$ROOT/.run/test-model-repository}"

rm -rf "$output"
mkdir -p "$output"
for config in "$SOURCE"/*/config.pbtxt; do
  model_dir="$(dirname "$config")"
  model="$(basename "$model_dir")"
  mkdir -p "$output/$model/1"
  ln -s "$config" "$output/$model/config.pbtxt"
  for file in "$model_dir"/1/*; do
    if [[ -f "$file" && "$(basename "$file")" != model.py ]]; then
      ln -s "$file" "$output/$model/1/"
    fi
  done
  ln -s "$TEST_MODEL" "$output/$model/1/model.py"
done
echo "$output"
