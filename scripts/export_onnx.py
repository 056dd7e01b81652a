"""Exports a Hugging Face sequence-classification cross-encoder to the ONNX layout rerank-gateway serves.

Contract of the exported graph (what triton-models/python/onnx_reranker.py and the gateway rely on):
  inputs   input_ids, attention_mask and, for models with token types, token_type_ids: int64 [batch, seq]
  output   logits: float32 [batch, 1] (cast to float32 even when the weights are fp16)
  opset 17, dynamic batch and sequence axes.
The export is checked against the torch model on a few padded inputs before the script succeeds.

Dev-only (needs torch, transformers, onnx, onnxruntime): run it with the dev interpreter, e.g.
  python scripts/export_onnx.py --checkpoint cross-encoder/ms-marco-MiniLM-L6-v2 --output model.onnx [--fp16]
"""

import argparse
import copy
import pathlib

import numpy as np
import onnx
import onnxruntime
import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel

OPSET = 17
DYNAMIC_AXES_OF_INPUT = {0: "batch", 1: "seq"}
# The torch reference always runs in float32; an fp16 export is compared against it with a looser tolerance.
DEFAULT_TOLERANCE = {False: 1e-4, True: 2e-2}
VERIFICATION_SHAPES = ((1, 7), (3, 16), (4, 33))


class LogitsOnly(torch.nn.Module):
    """Positional tensors in, float32 [batch, 1] logits out: the TorchScript exporter traces positional inputs,
    and the served contract is float32 whatever the weights' dtype."""

    def __init__(self, model: PreTrainedModel, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs, strict=True))).logits.float()


def load_cross_encoder(checkpoint: str) -> PreTrainedModel:
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, dtype=torch.float32)
    if model.config.num_labels != 1:
        raise SystemExit(
            f"{checkpoint}: expected a single-logit cross-encoder, got num_labels={model.config.num_labels}"
        )
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False  # decoder families: no KV cache outputs in the graph
    return model.eval()


def model_input_names(model: PreTrainedModel) -> list[str]:
    # BERT has two token types; XLM-R (type_vocab_size 1), DeBERTa-v2 (0) and decoders have none worth feeding.
    uses_token_types = getattr(model.config, "type_vocab_size", 0) > 1
    return ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_token_types else [])


def sample_inputs(
    model: PreTrainedModel, input_names: list[str], batch: int, seq: int, seed: int
) -> dict[str, np.ndarray]:
    """Random in-vocabulary ids, right-padded rows of decreasing length, second segment marked in token_type_ids."""
    generator = np.random.default_rng(seed)
    lengths = seq - np.arange(batch) * (seq // batch)
    positions = np.arange(seq)[None, :]
    attention_mask = (positions < lengths[:, None]).astype(np.int64)
    pad_token_id = model.config.pad_token_id or 0
    input_ids = np.where(
        attention_mask == 1, generator.integers(1000, model.config.vocab_size, (batch, seq)), pad_token_id
    )
    all_inputs = {
        "input_ids": input_ids.astype(np.int64),
        "attention_mask": attention_mask,
        "token_type_ids": ((positions >= lengths[:, None] // 2) & (attention_mask == 1)).astype(np.int64),
    }
    return {name: all_inputs[name] for name in input_names}


def export(model: PreTrainedModel, output: pathlib.Path, fp16: bool) -> list[str]:
    input_names = model_input_names(model)
    # A copy is traced so the caller's float32 model stays the verification reference. Eager attention traces
    # into plain ONNX ops; SDPA's mask shortcuts are data-dependent branches the tracer would freeze.
    traced_model = copy.deepcopy(model)
    traced_model.set_attn_implementation("eager")
    exported = LogitsOnly(traced_model.half() if fp16 else traced_model, input_names)
    example = sample_inputs(model, input_names, batch=2, seq=8, seed=0)
    output.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            exported,
            tuple(torch.from_numpy(example[name]) for name in input_names),
            str(output),
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, stable op set for BERT-like graphs
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes={**{name: DYNAMIC_AXES_OF_INPUT for name in input_names}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(output))
    return input_names


def verify(model: PreTrainedModel, onnx_path: pathlib.Path, input_names: list[str], tolerance: float) -> float:
    """Largest |onnx - torch| over VERIFICATION_SHAPES; raises if it reaches the tolerance."""
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    largest_difference = 0.0
    for seed, (batch, seq) in enumerate(VERIFICATION_SHAPES):
        inputs = sample_inputs(model, input_names, batch, seq, seed)
        (onnx_logits,) = session.run(["logits"], inputs)
        if onnx_logits.dtype != np.float32 or onnx_logits.shape != (batch, 1):
            raise AssertionError(f"logits are {onnx_logits.dtype} {onnx_logits.shape}, expected float32 ({batch}, 1)")
        with torch.no_grad():
            torch_logits = model(**{name: torch.from_numpy(value) for name, value in inputs.items()}).logits.numpy()
        largest_difference = max(largest_difference, float(np.max(np.abs(onnx_logits - torch_logits))))
    print(f"verified {onnx_path}: max |onnx - torch| = {largest_difference:.3g} over shapes {VERIFICATION_SHAPES}")
    if largest_difference >= tolerance:
        raise AssertionError(f"max abs difference {largest_difference:.3g} is not below {tolerance}")
    return largest_difference


def export_cross_encoder(
    model: PreTrainedModel, output: pathlib.Path, fp16: bool = False, tolerance: float | None = None
):
    input_names = export(model, output, fp16)
    verify(model, output, input_names, DEFAULT_TOLERANCE[fp16] if tolerance is None else tolerance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="Hugging Face hub id or local checkpoint directory")
    parser.add_argument("--output", required=True, type=pathlib.Path, help="ONNX file to write")
    parser.add_argument("--fp16", action="store_true", help="export fp16 weights (logits stay float32)")
    parser.add_argument("--tolerance", type=float, help="max |onnx - torch| allowed (default 1e-4, 2e-2 with --fp16)")
    arguments = parser.parse_args()
    export_cross_encoder(
        load_cross_encoder(arguments.checkpoint), arguments.output, arguments.fp16, arguments.tolerance
    )


if __name__ == "__main__":
    main()
