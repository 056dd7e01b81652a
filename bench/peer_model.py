"""Builds the model `npm run bench:peer` serves twice: a random-weight cross-encoder of the shape of
cross-encoder/ms-marco-MiniLM-L6-v2 (BERT, 6 layers, width 384, 12 heads, one label; no real weights can be
downloaded here), with the bert-base-uncased tokenizer of the shared test data, exported once to ONNX by
export/export_onnx.py. Writes, under .run/peer/ (gitignored):
  checkpoint/                 config.json, weights, tokenizer, and model.onnx: what Infinity loads (optimum engine)
  model-repository/ms-marco-minilm-l6-v2/  config.pbtxt (the committed CPU one), 1/model.onnx (the same file),
                              1/model.py -> triton-models/python/onnx_reranker.py: what the peer Triton loads
  tokenizers/ms-marco-minilm-l6-v2/tokenizer.json: what the peer gateway tokenizes with
Dev-only: run with the fixture interpreter (torch, transformers): .venv-dev/bin/python bench/peer_model.py
"""

import json
import pathlib
import shutil
import subprocess
import sys

import torch
from transformers import BertConfig, BertForSequenceClassification

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEER = ROOT / ".run" / "peer"
MODEL = "ms-marco-minilm-l6-v2"
SHARED_TOKENIZER = ROOT.parent / "shared" / "data" / "tokenizers" / "bert-base-uncased" / "tokenizer.json"
# cross-encoder/ms-marco-MiniLM-L6-v2's config.json, but for its weights.
SHAPE = dict(
    vocab_size=30522,
    hidden_size=384,
    num_hidden_layers=6,
    num_attention_heads=12,
    intermediate_size=1536,
    max_position_embeddings=512,
    type_vocab_size=2,
    num_labels=1,
)


def main() -> None:
    checkpoint = PEER / "checkpoint"
    checkpoint.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(**SHAPE)).eval().save_pretrained(checkpoint)
    tokenizer = json.loads(SHARED_TOKENIZER.read_text(encoding="utf-8"))
    tokenizer["truncation"] = None
    tokenizer["padding"] = None
    (checkpoint / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    # Written by hand: transformers 5 would name its own backend class, which Infinity's transformers 4 lacks.
    tokenizer_config = dict(
        tokenizer_class="BertTokenizer",
        do_lower_case=True,
        model_max_length=512,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )
    (checkpoint / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
    onnx_file = checkpoint / "model.onnx"
    subprocess.run(
        [sys.executable, str(ROOT / "export" / "export_onnx.py"), "--checkpoint", str(checkpoint), "--output", str(onnx_file)],
        check=True,
    )

    version = PEER / "model-repository" / MODEL / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "triton-models" / "cpu" / MODEL / "config.pbtxt", version.parent / "config.pbtxt")
    shutil.copyfile(onnx_file, version / "model.onnx")
    link = version / "model.py"
    link.unlink(missing_ok=True)
    link.symlink_to(ROOT / "triton-models" / "python" / "onnx_reranker.py")
    tokenizers = PEER / "tokenizers" / MODEL
    tokenizers.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint / "tokenizer.json", tokenizers / "tokenizer.json")
    print(f"peer model ready under {PEER}")


if __name__ == "__main__":
    main()
