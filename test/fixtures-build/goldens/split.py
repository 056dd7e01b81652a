"""The reference of long_documents=split_max, written independently of the gateway's TypeScript: each document's
ids from the reference tokenizer (the HF tokenizer the reference library loads, prefix included, nothing capped),
cut to max_tokens_per_document, in windows each as long as fits beside the query as pairing keeps it next to a long
part (one window when the document is no longer), consecutive windows sharing the registry's windowOverlap; each
window is paired with the whole query by the reference library's own pair building, as if it were the (already
capped) document part, and the rows are scored by the committed ONNX file. The document's score is its best
window's.

  family       pairs a document part with                                          query beside windows
  bert         the tokenizer's Rust truncation + post-processor (CrossEncoder)     longest_first: at most ceil(B/2)
  deberta-v2   the same (MxbaiRerankV1's tokenizer call)                           as bert
  xlm-roberta  FlagEmbedding prepare_for_model_compat (decode, encode the pair)     capped at queryMaxLength
  qwen2-mxbai  MxbaiRerankV2: prepare_for_model(Q, sep + D) + chat template        capped at queryMaxLength
  gemma-bge    FlagLLMReranker: prepare_for_model_compat([bos] + Q, sep + D) + sep + prompt   capped
  bi-encoder   each text alone, [CLS] t [SEP] (SentenceTransformer's tokenizer)   the query is its own row

(B: the query + document tokens a row holds.) The FlagReranker round trip can give a window more ids than fit; such
a window takes fewer ids until it fits, and the next one starts the overlap before its end.
"""

import json
import math
import pathlib
import tempfile
from dataclasses import dataclass

import numpy as np
from transformers import AutoTokenizer

from tokenizers import Tokenizer, models, pre_tokenizers

from .pairs import read_jsonl
from .paths import CHECKPOINTS, MSMARCO_DIR, REPO_ROOT, TRITON_CPU_MODELS, relative
from .references import BGE_GEMMA_PROMPT, library_versions
from .shims import shim_flagembedding_import, shim_prepare_for_model
from .writing import onnx_scores, sha256

SPLIT_GOLDENS_DIR = REPO_ROOT / "test" / "parity" / "split-goldens"
REGISTRY = REPO_ROOT / "src" / "catalog" / "registry.json"
DEFAULT_WINDOW_OVERLAP = 0.25  # src/catalog/registry.ts DEFAULT_WINDOW_OVERLAP
# Two windows whose scores differ by less than this are a tie as far as the ONNX-vs-Triton noise goes: the test
# then accepts either as the best.
TIE_MARGIN = 2e-4


def registry_entry(name: str) -> dict:
    entry = next(model for model in json.loads(REGISTRY.read_text(encoding="utf-8"))["models"] if model["name"] == name)
    return {"windowOverlap": DEFAULT_WINDOW_OVERLAP, **entry}


def window_spans(length: int, window_tokens: int, overlap_tokens: int) -> list[tuple[int, int]]:
    """[start, end) of each window: window_tokens ids each but the last, which ends at the document's end; each
    starts overlap_tokens before the previous one's end (at least one id after its start)."""
    spans = []
    start = 0
    while True:
        end = min(length, start + window_tokens)
        spans.append((start, end))
        if end >= length:
            return spans
        start = max(start + 1, end - overlap_tokens)


def id_pair_encoder(tokenizer_json: str, max_length: int, strategy: str):
    """The reference tokenizer's own Rust truncation and post-processor applied to ids: what its text-pair call
    (CrossEncoder, MxbaiRerankV1, SentenceTransformer) does once the texts are tokenized. A WordLevel model whose
    vocabulary is the ids' decimal strings hands the ids through unchanged."""
    reference = Tokenizer.from_str(tokenizer_json)
    size = reference.get_vocab_size(with_added_tokens=True)
    encoder = Tokenizer(models.WordLevel({str(index): index for index in range(size)}, unk_token="0"))
    encoder.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    encoder.post_processor = reference.post_processor
    encoder.enable_truncation(max_length, strategy=strategy)

    def encode(first: list[int], second: list[int] | None = None) -> dict:
        words = [str(index) for index in first]
        encoding = encoder.encode(
            words, [str(index) for index in second] if second is not None else None, is_pretokenized=True
        )
        kept = [sum(1 for sequence in encoding.sequence_ids if sequence == side) for side in (0, 1)]
        return {"input_ids": encoding.ids, "token_type_ids": encoding.type_ids, "kept": kept}

    return encode


@dataclass
class Row:
    ids: dict  # input_ids (+ token_type_ids for bert)
    truncated: bool  # the pairing dropped query or window tokens


class Family:
    """How one family's reference tokenizes a query and a document and pairs a document part with the query."""

    def __init__(self, tokenizer, entry: dict):
        self.tokenizer = tokenizer
        self.max_length = entry["maxLength"]
        self.query_max_length = entry.get("queryMaxLength")
        self.truncation = entry["truncation"]
        self.round_trips = False
        self.document_cap = math.inf
        self.budget = 0  # query + document tokens a row holds, set by each family

    def window_tokens(self, query: list[int]) -> int:
        """Document tokens of a window: what fits beside the query as pairing keeps it next to a long part."""
        return min(self.budget - len(query), self.document_cap)

    def tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def query(self, text: str) -> tuple[list[int], bool]:
        """The query's ids as pairing takes them, and whether a cap dropped some."""
        return self.tokens(text), False

    def document(self, text: str) -> list[int]:
        """The document's ids, prefix included, nothing capped."""
        return self.tokens(text)

    def capped_query(self, text: str) -> tuple[list[int], bool]:
        """The references' query call: cut to queryMaxLength (max_length * 3 // 4) before pairing."""
        capped = self.tokenizer(text, add_special_tokens=False, max_length=self.query_max_length, truncation=True)
        return capped["input_ids"], len(self.tokens(text)) > len(capped["input_ids"])


class PairEncoderFamily(Family):
    """bert, deberta-v2: the tokenizer's pair encoding, truncation in the registry's strategy."""

    def __init__(self, tokenizer, entry: dict):
        super().__init__(tokenizer, entry)
        self.encode = id_pair_encoder(tokenizer.backend_tokenizer.to_str(), self.max_length, self.truncation)
        self.budget = self.max_length - tokenizer.backend_tokenizer.post_processor.num_special_tokens_to_add(True)

    def window_tokens(self, query: list[int]) -> int:
        if self.truncation == "longest_first":
            return self.budget - min(len(query), math.ceil(self.budget / 2))
        return self.budget - len(query)

    def pair(self, query: list[int], part: list[int]) -> Row:
        encoded = self.encode(query, part)
        return Row(
            {"input_ids": encoded["input_ids"], "token_type_ids": encoded["token_type_ids"]},
            encoded["kept"] != [len(query), len(part)],
        )


class FlagRerankerFamily(Family):
    """xlm-roberta: FlagReranker caps the query, then prepare_for_model_compat decodes both parts and encodes the
    pair with only_second truncation."""

    def __init__(self, tokenizer, entry: dict):
        super().__init__(tokenizer, entry)
        shim_flagembedding_import()
        from FlagEmbedding.utils.tokenizer_compat import _decode_token_ids, prepare_for_model_compat

        self.decode = lambda ids: _decode_token_ids(tokenizer, ids)
        self.prepare = prepare_for_model_compat
        self.round_trips = True
        self.document_cap = self.max_length
        self.budget = self.max_length - tokenizer.num_special_tokens_to_add(pair=True)

    def query(self, text: str) -> tuple[list[int], bool]:
        return self.capped_query(text)

    def round_trip(self, ids: list[int]) -> list[int]:
        return self.tokens(self.decode(ids))

    def window_tokens(self, query: list[int]) -> int:
        return min(self.budget - len(self.round_trip(query)), self.document_cap)

    def pair(self, query: list[int], part: list[int]) -> Row:
        item = self.prepare(
            self.tokenizer, query, part, truncation="only_second", max_length=self.max_length, padding=False
        )
        whole = len(self.round_trip(query)) + len(self.round_trip(part)) + self.max_length - self.budget
        return Row({"input_ids": list(item["input_ids"])}, len(item["input_ids"]) < whole)


# How both decoder references pair (query, sep + document part): only_second, ids only, no padding.
DECODER_PAIRING = {
    "truncation": "only_second",
    "padding": False,
    "return_attention_mask": False,
    "return_token_type_ids": False,
    "add_special_tokens": False,
}


class MxbaiV2Family(Family):
    """qwen2-mxbai: MxbaiRerankV2.prepare_inputs with the document part given as ids."""

    def __init__(self, tokenizer, entry: dict):
        super().__init__(tokenizer, entry)
        from mxbai_rerank.mxbai_rerank_v2 import MxbaiRerankV2

        shim_prepare_for_model(tokenizer)
        self.reference = MxbaiRerankV2
        self.sep = self.tokens(MxbaiRerankV2.sep)
        self.prefix = self.tokens(MxbaiRerankV2.chat_template["prefix"])
        self.suffix = self.tokens(MxbaiRerankV2.chat_template["suffix"])
        self.task = self.tokens(MxbaiRerankV2.task_prompt)
        self.document_cap = self.max_length
        self.budget = self.max_length - len(self.sep)

    def query(self, text: str) -> tuple[list[int], bool]:
        return self.capped_query(self.reference.query_prompt.format(query=text))

    def document(self, text: str) -> list[int]:
        return self.tokens(self.reference.doc_prompt.format(document=text))

    def pair(self, query: list[int], part: list[int]) -> Row:
        item = self.tokenizer.prepare_for_model(query, self.sep + part, max_length=self.max_length, **DECODER_PAIRING)
        ids = list(item["input_ids"])
        return Row(
            {"input_ids": self.prefix + ids + self.sep + self.task + self.suffix},
            len(ids) < len(query) + len(self.sep) + len(part),
        )


class FlagLlmRerankerFamily(Family):
    """gemma-bge: FlagLLMReranker caps "A: q" and "B: d", pairs [bos] + Q with sep + D only_second to
    encode_max_length, then appends sep + prompt."""

    def __init__(self, tokenizer, entry: dict):
        super().__init__(tokenizer, entry)
        shim_flagembedding_import()
        from FlagEmbedding.utils.tokenizer_compat import prepare_for_model_compat

        self.prepare = prepare_for_model_compat
        self.sep = self.tokens("\n")
        self.prompt = self.tokens(BGE_GEMMA_PROMPT)
        self.encode_max_length = self.max_length + len(self.sep) + len(self.prompt)
        self.document_cap = self.max_length
        self.budget = self.encode_max_length - 1 - len(self.sep)

    def query(self, text: str) -> tuple[list[int], bool]:
        return self.capped_query("A: " + text)

    def document(self, text: str) -> list[int]:
        return self.tokens("B: " + text)

    def pair(self, query: list[int], part: list[int]) -> Row:
        first = [self.tokenizer.bos_token_id, *query]
        item = self.prepare(
            self.tokenizer, first, self.sep + part, max_length=self.encode_max_length, **DECODER_PAIRING
        )
        ids = list(item["input_ids"])
        return Row({"input_ids": ids + self.sep + self.prompt}, len(ids) < len(first) + len(self.sep) + len(part))


class BiEncoderFamily(Family):
    """bi-encoder: SentenceTransformer encodes each text alone, [CLS] t [SEP] cut to maxLength."""

    def __init__(self, tokenizer, entry: dict):
        super().__init__(tokenizer, entry)
        self.encode = id_pair_encoder(tokenizer.backend_tokenizer.to_str(), self.max_length, "longest_first")
        self.budget = self.max_length - tokenizer.backend_tokenizer.post_processor.num_special_tokens_to_add(False)

    def window_tokens(self, query: list[int]) -> int:
        return self.budget

    def text_row(self, ids: list[int]) -> Row:
        encoded = self.encode(ids)
        return Row({"input_ids": encoded["input_ids"]}, encoded["kept"][0] < len(ids))


FAMILIES = {
    "bert": PairEncoderFamily,
    "deberta-v2": PairEncoderFamily,
    "xlm-roberta": FlagRerankerFamily,
    "qwen2-mxbai": MxbaiV2Family,
    "gemma-bge": FlagLlmRerankerFamily,
    "bi-encoder": BiEncoderFamily,
}


def split_document(family: Family, query: list[int], ids: list[int], max_tokens: int, overlap: float):
    """The document's rows, one per window (one when it is no longer than a window), each paired with the whole
    query; and whether max_tokens cut the document."""
    cut = 0 < max_tokens < len(ids)
    kept = ids[:max_tokens] if cut else ids
    texts = isinstance(family, BiEncoderFamily)
    pair = family.text_row if texts else (lambda part: family.pair(query, part))
    window_tokens = family.window_tokens(query)
    overlap_tokens = math.floor(window_tokens * overlap)
    if not family.round_trips:
        return [pair(kept[start:end]) for start, end in window_spans(len(kept), window_tokens, overlap_tokens)], cut
    rows = []
    start = 0
    end = min(len(kept), window_tokens)
    while True:
        grown = len(family.round_trip(kept[start:end])) - window_tokens
        if grown > 0 and end - start > 1:
            end = max(start + 1, end - grown)
            continue
        rows.append(pair(kept[start:end]))
        if end >= len(kept):
            return rows, cut
        start = max(start + 1, end - overlap_tokens)
        end = min(len(kept), start + window_tokens)


def split_requests() -> list[dict]:
    """Long msmarco documents (consecutive passages joined: about 1,000, 2,500 and 5,000 bert-base-uncased tokens)
    and one that fits, scored whole and with max_tokens_per_document; and a long query beside a long document."""
    corpus = [row["text"] for row in read_jsonl(MSMARCO_DIR / "corpus.jsonl")]
    queries = [row["text"] for row in read_jsonl(MSMARCO_DIR / "queries.jsonl")]

    def joined(first: int, chars: int) -> str:
        parts, length, index = [], 0, first
        while length < chars:
            parts.append(corpus[index % len(corpus)])
            length += len(parts[-1]) + 1
            index += 1
        return " ".join(parts)

    documents = [joined(100, 4_200), joined(300, 10_500), joined(700, 21_000), corpus[5]]
    return [
        {"query": queries[3], "documents": documents, "maxTokensPerDocument": 0},
        {"query": queries[3], "documents": documents, "maxTokensPerDocument": 1_500},
        {"query": joined(2_000, 1_800), "documents": [joined(1_000, 6_000), corpus[9]], "maxTokensPerDocument": 0},
    ]


@dataclass(frozen=True)
class SplitModel:
    name: str
    family: str
    tokenizer_dir: pathlib.Path
    padding_side: str
    pad_token_id: int


def model_scores(model: SplitModel, rows: list[dict]) -> np.ndarray:
    onnx_path = TRITON_CPU_MODELS / model.name / "1" / "model.onnx"
    return onnx_scores(onnx_path, rows, model.padding_side, model.pad_token_id)


def make_split_golden(model: SplitModel, description: str, requests: list[dict]) -> dict:
    entry = registry_entry(model.name)
    family = FAMILIES[model.family](AutoTokenizer.from_pretrained(str(model.tokenizer_dir)), entry)
    texts = isinstance(family, BiEncoderFamily)
    out_requests = []
    all_rows: list[dict] = []
    for request in requests:
        query, query_cut = family.query(request["query"])
        query_row = family.text_row(query) if texts else None
        query_index = len(all_rows)
        if query_row:
            all_rows.append(query_row.ids)
        documents = []
        for text in request["documents"]:
            rows, cut = split_document(
                family, query, family.document(text), request["maxTokensPerDocument"], entry["windowOverlap"]
            )
            documents.append({"rows": rows, "cut": cut, "first": len(all_rows)})
            all_rows.extend(row.ids for row in rows)
        out_requests.append(
            {"queryRow": query_row, "queryIndex": query_index, "queryCut": query_cut, "documents": documents}
        )
    values = model_scores(model, all_rows)
    golden_requests = []
    for out in out_requests:
        query_row = out["queryRow"]
        query_embedding = values[out["queryIndex"]] if query_row else None
        documents = []
        for document in out["documents"]:
            first, rows = document["first"], document["rows"]
            outputs = values[first : first + len(rows)]
            scores = (outputs @ query_embedding if texts else outputs[:, 0]).astype(np.float64)
            best = int(np.argmax(scores))
            others = np.delete(scores, best)
            truncated = document["cut"] or any(row.truncated for row in rows) or (out["queryCut"] and not texts)
            documents.append(
                {
                    "windows": [
                        {
                            "inputIds": row.ids["input_ids"],
                            **({"tokenTypeIds": row.ids["token_type_ids"]} if model.family == "bert" else {}),
                            "rawScore": float(score),
                        }
                        for row, score in zip(rows, scores, strict=True)
                    ],
                    "truncated": truncated,
                    "rawScore": float(scores[best]),
                    "bestWindow": best,
                    "bestWindowMargin": float(scores[best] - others.max()) if len(others) else None,
                }
            )
        golden_requests.append(
            {
                **(
                    {"queryInputIds": query_row.ids["input_ids"], "queryTruncated": query_row.truncated}
                    if texts
                    else {}
                ),
                "documents": documents,
            }
        )
    onnx_path = TRITON_CPU_MODELS / model.name / "1" / "model.onnx"
    return {
        "model": model.name,
        "family": model.family,
        "generatedBy": "test/fixtures-build/make_split_goldens.py",
        "algorithm": "test/fixtures-build/goldens/split.py",
        "reference": {"pairing": type(family).__doc__, "versions": library_versions("FlagEmbedding", "mxbai-rerank")},
        "tokenizer": description,
        "onnx": {"path": relative(onnx_path), "sha256": sha256(onnx_path)},
        "settings": {
            "maxLength": entry["maxLength"],
            "queryMaxLength": entry.get("queryMaxLength"),
            "truncation": entry["truncation"],
            "windowOverlap": entry["windowOverlap"],
        },
        "tieMargin": TIE_MARGIN,
        "requests": golden_requests,
    }


def split_models() -> dict[str, tuple[SplitModel, str]]:
    """Every golden model with the directory of its reference tokenizer (as the reference library loads it) and
    the description of the gateway's tokenizer file the parity tests map to a path."""
    from build_test_models import TINY_MODELS

    from .models import GOLDEN_MODELS, MINILM

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="split-goldens-"))
    chosen = {}
    for name, golden in GOLDEN_MODELS.items():
        directory = scratch / name
        directory.mkdir()
        TINY_MODELS[name].install_tokenizer(directory)
        chosen[name] = (
            SplitModel(name, golden.family, directory, golden.padding_side, golden.pad_token_id),
            golden.tokenizer,
        )
    chosen[MINILM] = (
        SplitModel(MINILM, "bi-encoder", CHECKPOINTS / MINILM, "right", 0),
        "tokenizers/bert-base-uncased/tokenizer.json (ops/setup.sh)",
    )
    return chosen


def write_split_golden(golden: dict) -> pathlib.Path:
    SPLIT_GOLDENS_DIR.mkdir(parents=True, exist_ok=True)
    path = SPLIT_GOLDENS_DIR / f"{golden['model']}.json"
    path.write_text(json.dumps(golden, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def write_split_requests(requests: list[dict]) -> pathlib.Path:
    SPLIT_GOLDENS_DIR.mkdir(parents=True, exist_ok=True)
    path = SPLIT_GOLDENS_DIR / "requests.json"
    path.write_text(json.dumps(requests, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
