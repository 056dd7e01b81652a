"""Reference pair encodings from Hugging Face's Python `tokenizers`, for the tokenization parity test.

Reads JSON on stdin:
  {"tokenizerFile": str, "maxLength": int, "truncation": "longest_first" | "only_second",
   "requests": [{"query": str, "documents": [str, ...]}, ...]}
Writes JSON on stdout:
  {"tokenizersVersion": str,
   "requests": [[{"ids": [int], "typeIds": [int], "truncated": bool} | {"error": str}, ...], ...]}
with one entry per document: tokenizer.encode(query, document) with truncation enabled, i.e. what
sentence-transformers' CrossEncoder (longest_first) and FlagEmbedding (only_second) feed their models.
"""

import json
import sys

try:
    import tokenizers
except ImportError:
    sys.exit(f"{sys.executable} lacks the Python package `tokenizers` (pip install tokenizers)")


def main() -> None:
    spec = json.load(sys.stdin)
    truncating = tokenizers.Tokenizer.from_file(spec["tokenizerFile"])
    # A tokenizer.json may carry its own truncation and padding; the spec's settings replace them.
    truncating.no_padding()
    truncating.enable_truncation(spec["maxLength"], strategy=spec["truncation"])
    untruncated = tokenizers.Tokenizer.from_file(spec["tokenizerFile"])
    untruncated.no_padding()
    untruncated.no_truncation()

    def encode(query: str, document: str) -> dict:
        try:
            encoding = truncating.encode(query, document)
        except Exception as error:  # HF raises a plain Exception for truncation errors
            return {"error": str(error)}
        full_length = len(untruncated.encode(query, document).ids)
        return {"ids": encoding.ids, "typeIds": encoding.type_ids, "truncated": full_length > spec["maxLength"]}

    results = [[encode(r["query"], d) for d in r["documents"]] for r in spec["requests"]]
    json.dump({"tokenizersVersion": tokenizers.__version__, "requests": results}, sys.stdout)


if __name__ == "__main__":
    main()
