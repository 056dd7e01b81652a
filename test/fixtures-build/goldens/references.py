"""Each family's reference library run on a checkpoint: per pair, the ids it fed its model (captured, padding
stripped), its raw and normalized scores, and its settings as the golden records them.

  model                    reference (dev interpreter's site-packages)
  tiny-bert-reranker       sentence_transformers.CrossEncoder.predict                   (cross_encoder/model.py)
  tiny-deberta-reranker    mxbai_rerank.MxbaiRerankV1.predict                           (mxbai_rerank_v1.py)
  tiny-xlmr-reranker       FlagEmbedding.FlagReranker.compute_score                     (encoder_only/base.py)
  tiny-mxbai-v2-reranker   mxbai_rerank.MxbaiRerankV2.predict(normalize=False / True)   (mxbai_rerank_v2.py)
  tiny-bge-gemma-reranker  FlagEmbedding.FlagLLMReranker.compute_score                  (decoder_only/base.py)
(all-minilm-l6-v2, sentence_transformers.SentenceTransformer.encode, is written by writing.make_minilm_golden.)

Each run also asks the same reference, set to an unlimited max length, what it would feed for each pair alone
(capture.fed_lengths, the model not run): the golden's `truncated` says whether the reference dropped tokens.
"""

import importlib.metadata
import pathlib
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from .capture import fed_lengths, single_pair_rows
from .shims import shim_batch_encode_plus, shim_flagembedding_import, shim_prepare_for_model

TINY_MAX_LENGTH = 128  # the reference max_length of the new tiny models (test/fixtures-build/build_test_models.py)
BERT_MAX_LENGTH = 512  # tiny-bert-reranker: registry maxLength
UNLIMITED_LENGTH = 1 << 20  # a max length no test text reaches: a reference set to it truncates nothing


def encode(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def mxbai_v2_pieces(tokenizer: Tokenizer) -> dict[str, list[int]]:
    """MxbaiRerankV2's own prompt pieces as ids, recorded in the golden's settings."""
    from mxbai_rerank.mxbai_rerank_v2 import MxbaiRerankV2

    return {
        "prefix": encode(tokenizer, MxbaiRerankV2.chat_template["prefix"]),
        "sep": encode(tokenizer, MxbaiRerankV2.sep),
        "task": encode(tokenizer, MxbaiRerankV2.task_prompt),
        "suffix": encode(tokenizer, MxbaiRerankV2.chat_template["suffix"]),
    }


# FlagLLMReranker's default prompt (decoder_only/base.py), recorded in the golden's settings with its ids.
BGE_GEMMA_PROMPT = (
    "Given a query A and a passage B, determine whether the passage contains an answer to the query by providing a "
    "prediction of either 'Yes' or 'No'."
)


@dataclass
class ReferenceRun:
    rows: list[dict]  # per pair: input_ids (+ token_type_ids) as fed to the model
    raw: list[float]
    normalized: list[float]
    reference: dict
    settings: dict
    score: dict
    full_lengths: list[int]  # per pair: the length of what the reference feeds with no max length


def library_versions(*packages: str) -> dict:
    return {
        package: importlib.metadata.version(package) for package in ("torch", "transformers", "tokenizers", *packages)
    }


def run_cross_encoder(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(checkpoint), device="cpu", max_length=BERT_MAX_LENGTH)
    rows = single_pair_rows(model.model, pairs, lambda pair: model.predict([pair], activation_fn=torch.nn.Identity()))
    raw = model.predict(pairs, activation_fn=torch.nn.Identity(), batch_size=32).astype(float).tolist()
    normalized = model.predict(pairs, batch_size=32).astype(float).tolist()
    unlimited = CrossEncoder(str(checkpoint), device="cpu", max_length=UNLIMITED_LENGTH)
    full_lengths = fed_lengths(unlimited.model, pairs, lambda pair: unlimited.predict([pair]))
    return ReferenceRun(
        rows,
        raw,
        normalized,
        {
            "library": "sentence-transformers",
            "call": f"CrossEncoder(checkpoint, max_length={BERT_MAX_LENGTH}).predict(pairs); "
            "raw: activation_fn=Identity",
            "file": "sentence_transformers/cross_encoder/model.py",
            "versions": library_versions("sentence-transformers"),
        },
        {
            "maxLength": BERT_MAX_LENGTH,
            "truncation": "longest_first",
            "template": "[CLS] query [SEP] document [SEP]",
            "typeIds": "0 for [CLS] query [SEP], 1 for document [SEP]",
            "paddingSide": "right",
            "padTokenId": 0,
        },
        {"raw": "logit", "normalized": "sigmoid(raw) (CrossEncoder default activation for num_labels=1)"},
        full_lengths=full_lengths,
    )


def run_mxbai_v1(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    from mxbai_rerank import MxbaiRerankV1

    model = MxbaiRerankV1(str(checkpoint), device="cpu", max_length=TINY_MAX_LENGTH)
    shim_batch_encode_plus(model.tokenizer)

    def predict(batch):
        return model.predict([query for query, _ in batch], [document for _, document in batch])

    rows = single_pair_rows(model.model, pairs, lambda pair: predict([pair]))
    logits: list[torch.Tensor] = []
    handle = model.model.register_forward_hook(lambda _m, _a, output: logits.append(output.logits.detach().clone()))
    try:
        normalized = predict(pairs).double().tolist()
    finally:
        handle.remove()
    raw = logits[-1][:, 0].double().tolist()
    unlimited = MxbaiRerankV1(str(checkpoint), device="cpu", max_length=UNLIMITED_LENGTH)
    shim_batch_encode_plus(unlimited.tokenizer)
    full_lengths = fed_lengths(unlimited.model, pairs, lambda pair: unlimited.predict([pair[0]], [pair[1]]))
    return ReferenceRun(
        rows,
        raw,
        normalized,
        {
            "library": "mxbai-rerank",
            "call": f"MxbaiRerankV1(checkpoint, max_length={TINY_MAX_LENGTH}).predict(queries, documents); "
            "raw: the model's logit",
            "file": "mxbai_rerank/mxbai_rerank_v1.py (MxbaiRerankV1.predict)",
            "versions": library_versions("mxbai-rerank"),
            "shims": [
                "tokenizer.batch_encode_plus(pairs, **kw) = tokenizer(firsts, seconds, **kw) "
                "(removed in transformers 5)"
            ],
        },
        {
            "maxLength": TINY_MAX_LENGTH,
            "truncation": "longest_first",
            "template": "[CLS] query [SEP] document [SEP]",
            "typeIds": "0 0 0 / 1 1 (passed, but type_vocab_size=0: the model ignores them)",
            "paddingSide": "right",
            "padTokenId": 0,
        },
        {"raw": "logit", "normalized": "sigmoid(raw) (predict always returns it)"},
        full_lengths=full_lengths,
    )


def flag_embedding_scores(class_name: str, checkpoint: pathlib.Path, pairs: list[tuple[str, str]]):
    """A FlagEmbedding reranker at TINY_MAX_LENGTH: (the reranker, per-pair rows, raw scores, normalized scores,
    per-pair full lengths)."""
    shim_flagembedding_import()
    import FlagEmbedding

    model = getattr(FlagEmbedding, class_name)(
        str(checkpoint), devices="cpu", max_length=TINY_MAX_LENGTH, batch_size=128
    )
    rows = single_pair_rows(model.model, pairs, lambda pair: model.compute_score([pair]))
    raw = [float(score) for score in model.compute_score(pairs)]
    normalized = [float(score) for score in model.compute_score(pairs, normalize=True)]
    full_lengths = fed_lengths(
        model.model, pairs, lambda pair: model.compute_score([pair], max_length=UNLIMITED_LENGTH)
    )
    return model, rows, raw, normalized, full_lengths


def run_flag_reranker(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    _, rows, raw, normalized, full_lengths = flag_embedding_scores("FlagReranker", checkpoint, pairs)
    return ReferenceRun(
        rows,
        raw,
        normalized,
        {
            "library": "FlagEmbedding",
            "call": f"FlagReranker(checkpoint, max_length={TINY_MAX_LENGTH}).compute_score(pairs[, normalize=True])",
            "file": "FlagEmbedding/inference/reranker/encoder_only/base.py "
            "(BaseReranker.compute_score_single_gpu, lines 102-199)",
            "versions": library_versions("FlagEmbedding"),
            "shims": ["stub transformers.modeling_attn_mask_utils so that `import FlagEmbedding` works (unused here)"],
        },
        {
            "maxLength": TINY_MAX_LENGTH,
            "queryMaxLength": TINY_MAX_LENGTH * 3 // 4,
            "truncation": "only_second",
            "template": "<s> query </s> </s> document </s>",
            "typeIds": None,
            "paddingSide": "right",
            "padTokenId": 1,
        },
        {"raw": "logit", "normalized": "1 / (1 + exp(-raw)) (FlagEmbedding encoder_only/base.py sigmoid, float64)"},
        full_lengths=full_lengths,
    )


def run_mxbai_v2(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    from mxbai_rerank import MxbaiRerankV2

    model = MxbaiRerankV2(str(checkpoint), device="cpu", max_length=TINY_MAX_LENGTH)
    shim_prepare_for_model(model.tokenizer)

    def predict(batch, normalize=False):
        return model.predict([query for query, _ in batch], [document for _, document in batch], normalize=normalize)

    rows = single_pair_rows(model.model, pairs, lambda pair: predict([pair]))
    raw = predict(pairs).double().tolist()
    normalized = np.asarray(predict(pairs, normalize=True), dtype=np.float64).tolist()
    unlimited = MxbaiRerankV2(str(checkpoint), device="cpu", max_length=UNLIMITED_LENGTH)
    shim_prepare_for_model(unlimited.tokenizer)
    full_lengths = fed_lengths(unlimited.model, pairs, lambda pair: unlimited.predict([pair[0]], [pair[1]]))
    return ReferenceRun(
        rows,
        raw,
        normalized,
        {
            "library": "mxbai-rerank",
            "call": f"MxbaiRerankV2(checkpoint, max_length={TINY_MAX_LENGTH})"
            ".predict(queries, documents, normalize=False|True)",
            "file": "mxbai_rerank/mxbai_rerank_v2.py (prepare_predefined_inputs 94-123, prepare_inputs 135-199, "
            "forward 201-234, normalize_scores 254-263)",
            "versions": library_versions("mxbai-rerank"),
            "shims": [
                "tokenizer.prepare_for_model / truncate_sequences = transformers 5 PythonBackend's "
                "(removed from Rust-backed tokenizers)"
            ],
        },
        {
            "maxLength": model.max_length,
            "modelMaxLength": model.model_max_length,
            "queryMaxLength": model.max_length * 3 // 4,
            "predefinedLength": model.predefined_length,
            "truncation": "only_second",
            "template": "prefix + Q + sep + D + sep + task + suffix",
            "templateIds": {
                name: ids
                for name, ids in mxbai_v2_pieces(Tokenizer.from_file(str(checkpoint / "tokenizer.json"))).items()
            },
            "scoreTokenIds": {"yes": model.yes_loc, "no": model.no_loc},
            "paddingSide": "left",
            "padTokenId": model.tokenizer.pad_token_id,
        },
        {
            "raw": 'logits[last, id("1")] - logits[last, id("0")]',
            "normalized": f"1 / (1 + exp(-(raw - estimated_max / 2))), estimated_max = {model.estimated_max} "
            "(mxbai_rerank/utils.py sigmoid_normalize; estimated_max_cfg: base-v2 9.0, large-v2 12.0, "
            "any other name 12.0)",
            "estimatedMax": model.estimated_max,
        },
        full_lengths=full_lengths,
    )


def run_flag_llm_reranker(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    model, rows, raw, normalized, full_lengths = flag_embedding_scores("FlagLLMReranker", checkpoint, pairs)
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    return ReferenceRun(
        rows,
        raw,
        normalized,
        {
            "library": "FlagEmbedding",
            "call": f"FlagLLMReranker(checkpoint, max_length={TINY_MAX_LENGTH}).compute_score(pairs[, normalize=True])",
            "file": "FlagEmbedding/inference/reranker/decoder_only/base.py "
            "(BaseLLMReranker.__init__ 199-258, compute_score_single_gpu 260-514)",
            "versions": library_versions("FlagEmbedding"),
            "shims": ["stub transformers.modeling_attn_mask_utils so that `import FlagEmbedding` works (unused here)"],
        },
        {
            "maxLength": TINY_MAX_LENGTH,
            "queryMaxLength": TINY_MAX_LENGTH * 3 // 4,
            "encodeMaxLength": TINY_MAX_LENGTH
            + len(encode(tokenizer, "\n"))
            + len(encode(tokenizer, BGE_GEMMA_PROMPT)),
            "truncation": "only_second",
            "template": "<bos> tok('A: ' + query)[:queryMaxLength] + sep + tok('B: ' + document) "
            "(cut to encodeMaxLength) + sep + prompt",
            "templateIds": {
                "bos": tokenizer.token_to_id("<bos>"),
                "sep": encode(tokenizer, "\n"),
                "prompt": encode(tokenizer, BGE_GEMMA_PROMPT),
            },
            "prompt": BGE_GEMMA_PROMPT,
            "scoreTokenIds": {"yes": model.yes_loc},
            "paddingSide": "left",
            "padTokenId": model.tokenizer.pad_token_id,
        },
        {"raw": 'logits[last, id("Yes")]', "normalized": "1 / (1 + exp(-raw)) (float64)"},
        full_lengths=full_lengths,
    )
