"""Writes the long_documents=split_max goldens test/parity/split-goldens/: requests.json (long msmarco documents,
with and without max_tokens_per_document, and a long query) and <model>.json per golden model: every window's ids
as the reference pairs them, its score by the committed ONNX file, and each document's best window, by the
reference algorithm of goldens/split.py (see its docstring). The TypeScript parity tests compare the gateway's
window ids with these exactly (test/parity/split-ids.test.ts) and its scores through the real Triton within 1e-4
(test/parity/split-scores.test.ts).

Dev-only: run with a Python that has test/fixtures-build/requirements-dev.txt, after ops/setup.sh (the
all-MiniLM-L6-v2 checkpoint and ONNX file; the tiny models' ONNX files are committed):
  python test/fixtures-build/make_split_goldens.py [--model NAME ...]
"""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402

from goldens.paths import relative  # noqa: E402
from goldens.split import make_split_golden, split_models, split_requests, write_split_golden, write_split_requests  # noqa: E402


def main() -> None:
    models = split_models()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(models), action="append", help="only these (repeatable)")
    arguments = parser.parse_args()
    requests = split_requests()
    path = write_split_requests(requests)
    print(f"  wrote {relative(path)} ({path.stat().st_size} bytes)")
    for name in arguments.model or sorted(models):
        model, description = models[name]
        golden = make_split_golden(model, description, requests)
        windows = [len(d["windows"]) for r in golden["requests"] for d in r["documents"]]
        path = write_split_golden(golden)
        print(f"  wrote {relative(path)} ({path.stat().st_size} bytes): windows per document {windows}")


if __name__ == "__main__":
    main()
