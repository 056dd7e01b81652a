"""The (query, document) requests every golden scores, the same for every model, deterministic (>= 50 pairs):
msmarco-5k queries with judged and random passages, documents (and a query) long enough to be truncated, non-ASCII
text, one-word documents, text that spells special tokens, odd whitespace."""

import json
import pathlib

import numpy as np

from .paths import MSMARCO_DIR

SEED = 20240611

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
