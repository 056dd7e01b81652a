"""Where the golden builder reads its inputs and writes the goldens (all from the repository root)."""

import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
CHECKPOINTS = REPO_ROOT / ".cache" / "checkpoints"
GOLDENS_DIR = REPO_ROOT / "test" / "parity" / "goldens"
TRITON_CPU_MODELS = REPO_ROOT / "triton-models" / "cpu"
MINILM_ONNX = TRITON_CPU_MODELS / "all-minilm-l6-v2" / "1" / "model.onnx"
MSMARCO_DIR = REPO_ROOT.parent / "shared" / "data" / "beir" / "msmarco-5k"


def relative(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO_ROOT))
