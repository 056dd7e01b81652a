"""Builds the tracked CPU test model tiny-bert-reranker, deterministically.

A 2-layer BertForSequenceClassification (num_labels=1) with random weights (fixed seed) and the real
bert-base-uncased vocabulary (30,522 tokens), so the whole gateway path runs on CPU with real tokenization.
Writes
  * the HF checkpoint (default .cache/checkpoints/tiny-bert-reranker; parity goldens are computed from it),
  * its ONNX export triton-models/cpu/<triton model>/1/model.onnx (~4 MB, a tracked fixture),
and prints the scores of a few tokenized pairs plus the ONNX file's sha256: two runs print the same.
Weights are rounded to fp16-representable values so an fp16 export of the same checkpoint differs only by compute.

Dev-only: /work/venvs/dev/bin/python-style interpreter with torch, transformers, onnx, onnxruntime, tokenizers.
  python scripts/build_test_models.py [--checkpoint-dir DIR] [--tokenizer tokenizer.json]
"""

import argparse
import hashlib
import json
import pathlib

import numpy as np
import onnxruntime
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertForSequenceClassification

from export_onnx import export_cross_encoder

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
REGISTRY = REPO_ROOT / "src" / "models" / "registry.json"
SHARED_TOKENIZERS = REPO_ROOT.parent / "shared" / "data" / "tokenizers"
MODEL_NAME = "tiny-bert-reranker"
SEED = 1234
BERT_BASE_UNCASED_VOCABULARY_SIZE = 30522
# A larger spread than BERT's 0.02 so that random weights still give scores that differ visibly between inputs.
INITIALIZER_RANGE = 0.2
CHECK_PAIRS = (
    ("what is the capital of france?", "Paris is the capital and largest city of France."),
    ("what is the capital of france?", "The Eiffel Tower was completed in 1889."),
    ("how do vaccines work", "Vaccines train the immune system to recognise a pathogen without causing disease."),
    ("how do vaccines work", "naïve café résumé — unicode passes through the BERT normalizer"),
)


def registry_entry(name: str) -> dict:
    models = json.loads(REGISTRY.read_text(encoding="utf-8"))["models"]
    return next(model for model in models if model["name"] == name)


def build_tiny_bert(max_length: int) -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=BERT_BASE_UNCASED_VOCABULARY_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        type_vocab_size=2,
        num_labels=1,
        pad_token_id=0,
        initializer_range=INITIALIZER_RANGE,
    )
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    return model.eval()


def check_scores(onnx_path: pathlib.Path, tokenizer_path: pathlib.Path) -> np.ndarray:
    """Scores CHECK_PAIRS as the gateway would: pair encoding, right padding to the longest pair."""
    if not tokenizer_path.is_file():
        raise SystemExit(f"missing test tokenizer {tokenizer_path} (the shared test data); pass --tokenizer")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    if tokenizer.get_vocab_size() != BERT_BASE_UNCASED_VOCABULARY_SIZE:
        raise SystemExit(f"{tokenizer_path} has {tokenizer.get_vocab_size()} tokens, not bert-base-uncased's")
    tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(list(CHECK_PAIRS))
    inputs = {
        "input_ids": np.array([encoding.ids for encoding in encodings], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids for encoding in encodings], dtype=np.int64),
    }
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], inputs)
    return logits[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint-dir",
        type=pathlib.Path,
        default=REPO_ROOT / ".cache" / "checkpoints" / MODEL_NAME,
        help="where to save the HF checkpoint (default: %(default)s)",
    )
    entry = registry_entry(MODEL_NAME)
    parser.add_argument(
        "--tokenizer",
        type=pathlib.Path,
        default=SHARED_TOKENIZERS / entry["tokenizer"],
        help="bert-base-uncased tokenizer.json used for the score check (default: %(default)s)",
    )
    arguments = parser.parse_args()

    model = build_tiny_bert(entry["maxLength"])
    model.save_pretrained(arguments.checkpoint_dir)
    onnx_path = REPO_ROOT / "triton-models" / "cpu" / entry["triton"]["model"] / "1" / "model.onnx"
    export_cross_encoder(model, onnx_path)

    scores = check_scores(onnx_path, arguments.tokenizer)
    print(f"checkpoint {arguments.checkpoint_dir}")
    print(
        f"onnx {onnx_path.relative_to(REPO_ROOT)} ({onnx_path.stat().st_size} bytes) "
        f"sha256 {hashlib.sha256(onnx_path.read_bytes()).hexdigest()}"
    )
    for (query, passage), score in zip(CHECK_PAIRS, scores, strict=True):
        print(f"  logit {score:+.6f}  {query!r} / {passage[:50]!r}")


if __name__ == "__main__":
    main()
