"""The golden models: one tiny random-weight cross-encoder or decoder per family (test/fixtures-build/
build_test_models.py), scored by its family's reference library; all-minilm-l6-v2 (real weights, bi-encoder) is
written by writing.make_minilm_golden."""

import pathlib
from collections.abc import Callable
from dataclasses import dataclass

from .references import (
    ReferenceRun,
    run_cross_encoder,
    run_flag_llm_reranker,
    run_flag_reranker,
    run_mxbai_v1,
    run_mxbai_v2,
)

MINILM = "all-minilm-l6-v2"


@dataclass(frozen=True)
class GoldenModel:
    name: str
    family: str
    tokenizer: str  # repository-relative tokenizer.json the gateway uses, or a description
    run: Callable[[pathlib.Path, list[tuple[str, str]]], ReferenceRun]
    # How the gateway + onnx_reranker.py pad a batch, for the committed ONNX file's scores.
    padding_side: str
    pad_token_id: int


GOLDEN_MODELS = {
    model.name: model
    for model in (
        GoldenModel(
            "tiny-bert-reranker",
            "bert",
            "tokenizers/bert-base-uncased/tokenizer.json (ops/setup.sh)",
            run_cross_encoder,
            "right",
            0,
        ),
        GoldenModel(
            "tiny-deberta-reranker",
            "deberta-v2",
            "test/fixtures/tokenizers/deberta-v3-unigram-test/tokenizer.json",
            run_mxbai_v1,
            "right",
            0,
        ),
        GoldenModel(
            "tiny-xlmr-reranker",
            "xlm-roberta",
            "test/fixtures/tokenizers/xlmr-unigram-test/tokenizer.json",
            run_flag_reranker,
            "right",
            1,
        ),
        GoldenModel(
            "tiny-mxbai-v2-reranker",
            "qwen2-mxbai",
            "built by test/fixtures-build/build_qwen2_tokenizer.py from ../shared/data/tokenizers/qwen2",
            run_mxbai_v2,
            "left",
            151643,
        ),
        GoldenModel(
            "tiny-bge-gemma-reranker",
            "gemma-bge",
            "test/fixtures/tokenizers/gemma-bpe-test/tokenizer.json",
            run_flag_llm_reranker,
            "left",
            0,
        ),
    )
}
