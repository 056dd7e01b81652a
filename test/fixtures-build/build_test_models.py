"""Builds the tracked tiny CPU test models, one per reranker family, deterministically.

Each is a 1-2 layer model with random weights (fixed seed, rounded to fp16-representable values) and a real or
same-type tokenizer, so the whole gateway path runs on CPU with real tokenization; their rankings are meaningless.

  model                    family       architecture                         tokenizer (F: test/fixtures/tokenizers)
  tiny-bert-reranker       bert         BertForSequenceClassification        bert-base-uncased (shared)
  tiny-deberta-reranker    deberta-v2   DebertaV2ForSequenceClassification   F/deberta-v3-unigram-test
  tiny-xlmr-reranker       xlm-roberta  XLMRobertaForSequenceClassification  F/xlmr-unigram-test
  tiny-mxbai-v2-reranker   qwen2-mxbai  Qwen2ForCausalLM, head "1" - "0"     Qwen2 (shared vocab.json + merges.txt)
  tiny-bge-gemma-reranker  gemma-bge    GemmaForCausalLM, head "Yes"         F/gemma-bpe-test

For each it writes
  * the HF checkpoint with its tokenizer files (default .cache/checkpoints/<model>; the parity goldens of
    test/fixtures-build/make_goldens.py are computed from it by the reference libraries),
  * its ONNX export triton-models/cpu/<model>/1/model.onnx (a tracked fixture, verified against torch) and the
    model.py symlink to triton-models/python/onnx_reranker.py,
and prints each ONNX file's size and sha256: two runs print the same.

Dev-only: a Python with test/fixtures-build/requirements-dev.txt (torch, transformers, onnx, onnxruntime, tokenizers).
  python test/fixtures-build/build_test_models.py [--model NAME ...] [--checkpoints-dir DIR]
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

# The production exporter (export/export_onnx.py) makes the tiny models' ONNX files too.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "export"))

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402
from build_qwen2_tokenizer import build as build_qwen2_tokenizer  # noqa: E402
from build_test_tokenizers import hf_tokenizer_config  # noqa: E402
from export_onnx import export_cross_encoder, score_token_ids  # noqa: E402
from transformers import (  # noqa: E402
    BertForSequenceClassification,
    DebertaV2ForSequenceClassification,
    GemmaForCausalLM,
    PreTrainedModel,
    Qwen2ForCausalLM,
    XLMRobertaForSequenceClassification,
)

from tokenizers import Tokenizer  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
REGISTRY = REPO_ROOT / "src" / "catalog" / "registry.json"
SHARED_TOKENIZERS = REPO_ROOT.parent / "shared" / "data" / "tokenizers"
FIXTURE_TOKENIZERS = REPO_ROOT / "test" / "fixtures" / "tokenizers"
TRITON_CPU_MODELS = REPO_ROOT / "triton-models" / "cpu"
ONNX_RERANKER = REPO_ROOT / "triton-models" / "python" / "onnx_reranker.py"
SEED = 1234
BERT_BASE_UNCASED_VOCABULARY_SIZE = 30522
# Qwen2.5's embedding matrix (mxbai-rerank-*-v2): the 151,646 tokenizer ids padded to a multiple of 128.
QWEN2_VOCABULARY_SIZE = 151936
# A larger spread than the usual 0.02 so that random weights still give scores that differ visibly between inputs.
INITIALIZER_RANGE = 0.2
# The reference settings of the new tiny models (test/fixtures-build/make_goldens.py records them in each golden file).
TINY_MAX_LENGTH = 128
CHECK_PAIRS = (
    ("what is the capital of france?", "Paris is the capital and largest city of France."),
    ("what is the capital of france?", "The Eiffel Tower was completed in 1889."),
    ("how do vaccines work", "Vaccines train the immune system to recognise a pathogen without causing disease."),
    ("how do vaccines work", "naïve café résumé — unicode passes through the normalizer"),
)


@dataclass(frozen=True)
class TinyModel:
    name: str
    architecture: type[PreTrainedModel]
    settings: dict  # config arguments besides vocab_size
    install_tokenizer: Callable[[pathlib.Path], None]  # writes the tokenizer files into the checkpoint dir
    head: str = "classifier"
    fp16_embeddings: bool = False
    vocabulary_size: int | None = None  # default: the tokenizer's


# The size of every tiny encoder; the decoders set theirs next to their other settings.
TINY_ENCODER_SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
# What every tiny cross-encoder's config shares.
TINY_CROSS_ENCODER = {**TINY_ENCODER_SIZE, "num_labels": 1, "initializer_range": INITIALIZER_RANGE}
# What both tiny decoders share: 2 layers, 2 query heads over 1 key/value head, tied LM head, no KV cache.
TINY_DECODER = {
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "use_cache": False,
    "initializer_range": INITIALIZER_RANGE,
}


def registry_entry(name: str) -> dict:
    models = json.loads(REGISTRY.read_text(encoding="utf-8"))["models"]
    return next(model for model in models if model["name"] == name)


def round_to_fp16(model: PreTrainedModel) -> PreTrainedModel:
    """Weights exactly representable in fp16: an fp16 export (or fp16-stored embeddings) changes no value."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    return model.eval()


def build_tiny_model(model: TinyModel, vocabulary_size: int) -> PreTrainedModel:
    """model.architecture with model.settings, seeded, weights rounded to fp16-representable values."""
    config = model.architecture.config_class(vocab_size=model.vocabulary_size or vocabulary_size, **model.settings)
    torch.manual_seed(SEED)
    return round_to_fp16(model.architecture(config))


BERT_SETTINGS = {"type_vocab_size": 2, "pad_token_id": 0, **TINY_CROSS_ENCODER}
# The DeBERTa-v3 layout: relative attention with log buckets, no absolute positions, no token types.
DEBERTA_V3_SETTINGS = {
    "max_position_embeddings": 512,
    "type_vocab_size": 0,
    "relative_attention": True,
    "position_buckets": 256,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": ["p2c", "c2p"],
    "position_biased_input": False,
    "layer_norm_eps": 1e-7,
    "hidden_act": "gelu",
    "pooler_hidden_size": TINY_ENCODER_SIZE["hidden_size"],
    "pooler_hidden_act": "gelu",
    "pad_token_id": 0,
    **TINY_CROSS_ENCODER,
}
# XLM-R positions count from padding_idx + 1 = 2, so max_length tokens need max_length + 2 position embeddings.
XLMR_SETTINGS = {
    "max_position_embeddings": TINY_MAX_LENGTH + 2,
    "type_vocab_size": 1,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    **TINY_CROSS_ENCODER,
}
# Qwen2.5-0.5B-like (grouped-query attention, tied embeddings); hidden size 16 keeps the real-vocabulary
# embedding (stored as fp16) under 5 MB.
QWEN2_SETTINGS = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "pad_token_id": 151643,
    **TINY_DECODER,
}
# gemma-2b-like (multi-query attention); Gemma scales embeddings by sqrt(hidden) and always ties the LM head.
GEMMA_SETTINGS = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "head_dim": 16,
    "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 8192,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "bos_token_id": 2,
    **TINY_DECODER,
}


def copy_fixture_tokenizer(name: str) -> Callable[[pathlib.Path], None]:
    def install(checkpoint_dir: pathlib.Path) -> None:
        source = FIXTURE_TOKENIZERS / name
        if not (source / "tokenizer.json").is_file():
            raise SystemExit(f"missing {source}: run test/fixtures-build/build_test_tokenizers.py first")
        for path in sorted(source.iterdir()):
            shutil.copyfile(path, checkpoint_dir / path.name)

    return install


def install_bert_tokenizer(checkpoint_dir: pathlib.Path) -> None:
    """bert-base-uncased's tokenizer.json (shared test data) with a BertTokenizer config, as cross-encoder
    checkpoints such as cross-encoder/ms-marco-MiniLM-L6-v2 ship it."""
    source = SHARED_TOKENIZERS / registry_entry("tiny-bert-reranker")["tokenizer"]
    if not source.is_file():
        raise SystemExit(f"missing test tokenizer {source} (the shared test data)")
    tokenizer = json.loads(source.read_text(encoding="utf-8"))
    tokenizer["truncation"] = None
    tokenizer["padding"] = None
    (checkpoint_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    tokens = {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"}
    options = {"do_lower_case": True, "tokenize_chinese_chars": True, "strip_accents": None}
    config = hf_tokenizer_config("BertTokenizer", 512, tokens, **options)
    (checkpoint_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def install_qwen2_tokenizer(checkpoint_dir: pathlib.Path) -> None:
    source = SHARED_TOKENIZERS / "qwen2"
    build_qwen2_tokenizer(source).save(str(checkpoint_dir / "tokenizer.json"))
    for name in ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
        shutil.copyfile(source / name, checkpoint_dir / name)


TINY_MODELS = {
    model.name: model
    for model in (
        TinyModel(
            "tiny-bert-reranker",
            BertForSequenceClassification,
            {**BERT_SETTINGS, "max_position_embeddings": registry_entry("tiny-bert-reranker")["maxLength"]},
            install_bert_tokenizer,
        ),
        TinyModel(
            "tiny-deberta-reranker",
            DebertaV2ForSequenceClassification,
            DEBERTA_V3_SETTINGS,
            copy_fixture_tokenizer("deberta-v3-unigram-test"),
        ),
        TinyModel(
            "tiny-xlmr-reranker",
            XLMRobertaForSequenceClassification,
            XLMR_SETTINGS,
            copy_fixture_tokenizer("xlmr-unigram-test"),
        ),
        TinyModel(
            "tiny-mxbai-v2-reranker",
            Qwen2ForCausalLM,
            QWEN2_SETTINGS,
            install_qwen2_tokenizer,
            head="mxbai-v2",
            fp16_embeddings=True,
            vocabulary_size=QWEN2_VOCABULARY_SIZE,
        ),
        TinyModel(
            "tiny-bge-gemma-reranker",
            GemmaForCausalLM,
            GEMMA_SETTINGS,
            copy_fixture_tokenizer("gemma-bpe-test"),
            head="bge-gemma",
        ),
    )
}


def link_model_py(version_dir: pathlib.Path) -> None:
    link = version_dir / "model.py"
    target = os.path.relpath(ONNX_RERANKER, version_dir)
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)


def check_scores(onnx_path: pathlib.Path, tokenizer_path: pathlib.Path) -> np.ndarray:
    """tiny-bert-reranker: scores CHECK_PAIRS as the gateway would (pair encoding, right padding)."""
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
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


def build(model: TinyModel, checkpoints_dir: pathlib.Path) -> None:
    checkpoint_dir = checkpoints_dir / model.name
    if checkpoint_dir.exists():
        shutil.rmtree(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True)
    model.install_tokenizer(checkpoint_dir)
    vocabulary_size = Tokenizer.from_file(str(checkpoint_dir / "tokenizer.json")).get_vocab_size()
    if model.name == "tiny-bert-reranker" and vocabulary_size != BERT_BASE_UNCASED_VOCABULARY_SIZE:
        raise SystemExit(f"the bert tokenizer has {vocabulary_size} tokens, not bert-base-uncased's")
    torch_model = build_tiny_model(model, vocabulary_size)
    torch_model.save_pretrained(checkpoint_dir)

    version_dir = TRITON_CPU_MODELS / model.name / "1"
    onnx_path = version_dir / "model.onnx"
    head_token_ids = None if model.head == "classifier" else score_token_ids(str(checkpoint_dir), model.head)
    export_cross_encoder(
        torch_model, onnx_path, head=model.head, head_token_ids=head_token_ids, fp16_embeddings=model.fp16_embeddings
    )
    link_model_py(version_dir)
    print(
        f"{model.name}: checkpoint {checkpoint_dir}" + (f", score token ids {head_token_ids}" if head_token_ids else "")
    )
    print(
        f"  onnx {onnx_path.relative_to(REPO_ROOT)} ({onnx_path.stat().st_size} bytes) "
        f"sha256 {hashlib.sha256(onnx_path.read_bytes()).hexdigest()}"
    )
    if model.name == "tiny-bert-reranker":
        for (query, passage), score in zip(
            CHECK_PAIRS, check_scores(onnx_path, checkpoint_dir / "tokenizer.json"), strict=True
        ):
            print(f"  logit {score:+.6f}  {query!r} / {passage[:50]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(TINY_MODELS), action="append", help="build only these (repeatable)")
    parser.add_argument(
        "--checkpoints-dir",
        type=pathlib.Path,
        default=REPO_ROOT / ".cache" / "checkpoints",
        help="where to save the HF checkpoints (default: %(default)s)",
    )
    arguments = parser.parse_args()
    for name in arguments.model or list(TINY_MODELS):
        build(TINY_MODELS[name], arguments.checkpoints_dir)


if __name__ == "__main__":
    main()
