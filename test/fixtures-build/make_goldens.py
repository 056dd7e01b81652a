"""Writes the score-parity goldens test/parity/goldens/<model>.json: what each family's REFERENCE library feeds
its model and scores, for the gateway's CI tests to compare against (ids equal; scores within 1e-4, same order).

Each tiny-* reranker is scored by its family's reference library (the table in goldens/references.py) and
all-minilm-l6-v2 by sentence_transformers.SentenceTransformer.encode(normalize_embeddings=True).

The same query/document requests are used for every model (goldens/pairs.py). Per pair the golden records the
input ids exactly as the reference passed them to the model (captured by wrapping the HF model's forward, padding
stripped with the attention mask), whether the reference truncated the pair, the raw score, the reference's
normalized score, and the score of the committed ONNX file run on those ids. Nothing here rebuilds ids the way the
gateway does: the TypeScript parity tests (test/parity/template-ids.test.ts, scores.test.ts) compare the gateway's
own ids and scores with these. Under transformers 5 three references need shims (goldens/shims.py documents them).
The package goldens/ holds the parts, one job per module (goldens/__init__.py lists them).

Dev-only: run with a Python that has test/fixtures-build/requirements-dev.txt, after
test/fixtures-build/build_test_tokenizers.py, test/fixtures-build/build_test_models.py and ops/setup.sh
(all-MiniLM-L6-v2 checkpoint) + export/export_minilm_numpy.py:
  python test/fixtures-build/make_goldens.py [--model NAME ...] [--minilm-onnx FILE]
"""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import pathlib  # noqa: E402

import torch  # noqa: E402

from goldens.models import GOLDEN_MODELS, MINILM  # noqa: E402
from goldens.pairs import golden_requests  # noqa: E402
from goldens.paths import MINILM_ONNX, relative  # noqa: E402
from goldens.writing import make_cross_encoder_golden, make_minilm_golden, write_golden  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [*GOLDEN_MODELS, MINILM]
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
    for name in arguments.model or names:
        golden = (
            make_minilm_golden(requests, arguments.minilm_onnx)
            if name == MINILM
            else make_cross_encoder_golden(GOLDEN_MODELS[name], requests)
        )
        path = write_golden(golden)
        print(f"  wrote {relative(path)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
