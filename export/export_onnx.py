"""Exports a Hugging Face reranker (hub id or local checkpoint) to the ONNX layout rerank-gateway serves.

Contract of the exported graph (what triton-models/python/onnx_reranker.py and the gateway rely on):
  inputs   input_ids, attention_mask and, for models with token types (BERT), token_type_ids: int64 [batch, seq]
  output   logits: float32 [batch, 1] (float32 even when the weights are fp16)
  opset 17, dynamic batch and sequence axes.

Heads (--head, default: from the checkpoint's config):
  classifier  *ForSequenceClassification with one label (BERT, DeBERTa-v2, XLM-R cross-encoders): its logit.
  mxbai-v2    a causal LM scored like mxbai_rerank.MxbaiRerankV2.forward: logits[-1, id("1")] - logits[-1, id("0")].
  bge-gemma   a causal LM scored like FlagEmbedding's FlagLLMReranker: logits[-1, id("Yes")].
For the two decoder heads the LM head is reduced to the one row that is read, score = h_last . w (+ b) with
w = W[yes] - W[no] (mxbai-v2) or W[Yes] (bge-gemma), h_last the final-norm hidden state at the LAST position:
inputs are LEFT-padded. The ids are those the reference library takes: tokenizer(text, add_special_tokens=False)
of "1"/"0" resp. "Yes" (first id), read from the checkpoint's tokenizer (or --tokenizer). Position ids are
cumsum(attention_mask) - 1 (rotary embeddings see only relative positions, so this equals the reference's
arange over the padded row, and a row's score no longer depends on how much padding its batch has).

--fp16 exports fp16 weights; --fp16-embeddings keeps the computation in float32 but stores each embedding matrix
that only Gather reads as float16 (Gather then Cast), which is exact when the weights are fp16-representable
(the test fixtures are) and halves the file of a large-vocabulary model.

The export is checked against the torch model (the reference's own forward: full LM head, 2-D mask, default
positions) on a few padded inputs before the script succeeds.

Dev-only (needs torch, transformers, onnx, onnxruntime): run it with the dev interpreter, e.g.
  python export/export_onnx.py --checkpoint cross-encoder/ms-marco-MiniLM-L6-v2 --output model.onnx [--fp16]
  python export/export_onnx.py --checkpoint mixedbread-ai/mxbai-rerank-base-v2 --output model.onnx --fp16
"""

import argparse
import copy
import pathlib

import numpy as np
import onnx
import onnxruntime
import torch
from onnx import TensorProto, helper, numpy_helper
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
)

OPSET = 17
DYNAMIC_AXES_OF_INPUT = {0: "batch", 1: "seq"}
# The torch reference always runs in float32; an fp16 export is compared against it with a looser tolerance.
DEFAULT_TOLERANCE = {False: 1e-4, True: 2e-2}
VERIFICATION_SHAPES = ((1, 7), (3, 16), (4, 33))
HEADS = ("classifier", "mxbai-v2", "bge-gemma")
DECODER_HEAD_BY_MODEL_TYPE = {"qwen2": "mxbai-v2", "gemma": "bge-gemma"}
# Text whose first token id selects the LM-head row(s) a decoder head reads: (positive, negative or None).
SCORE_TOKENS = {"mxbai-v2": ("1", "0"), "bge-gemma": ("Yes", None)}
# Embedding matrices smaller than this stay float32 with --fp16-embeddings (nothing worth saving).
FP16_EMBEDDING_MIN_ELEMENTS = 1 << 16


class LogitsOnly(torch.nn.Module):
    """Positional tensors in, float32 [batch, 1] logits out: the TorchScript exporter traces positional inputs,
    and the served contract is float32 whatever the weights' dtype."""

    def __init__(self, model: PreTrainedModel, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs, strict=True))).logits.float()


class ReducedHeadDecoder(torch.nn.Module):
    """A causal LM's base model + one LM-head row: float32 [batch, 1] = h_last . head (+ bias), left padding.

    The mask is handed over as a ready 4-D additive mask (transformers returns a 4-D mask as it is), built with
    plain tensor ops so the TorchScript tracer keeps the sequence length dynamic."""

    def __init__(self, causal_lm: PreTrainedModel, head: torch.Tensor, bias: float):
        super().__init__()
        self.base = causal_lm.get_decoder()
        self.register_buffer("head", head.detach().float().reshape(-1, 1).clone())
        self.bias = float(bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        dtype = self.base.get_input_embeddings().weight.dtype
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        steps = torch.ones_like(input_ids[0]).cumsum(0)  # 1..seq, traced with a dynamic length
        causal = steps[None, :] <= steps[:, None]  # [query, key]
        allowed = causal[None, None, :, :] & (attention_mask[:, None, None, :] > 0)
        additive = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
        hidden = self.base(
            input_ids=input_ids, attention_mask=additive, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        score = hidden[:, -1, :].float() @ self.head
        return score + self.bias if self.bias else score


def default_head(checkpoint: str) -> str:
    config = AutoConfig.from_pretrained(checkpoint)
    return DECODER_HEAD_BY_MODEL_TYPE.get(config.model_type, "classifier")


def load_model(checkpoint: str, head: str) -> PreTrainedModel:
    if head == "classifier":
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint, dtype=torch.float32)
        if model.config.num_labels != 1:
            raise SystemExit(
                f"{checkpoint}: expected a single-logit cross-encoder, got num_labels={model.config.num_labels}"
            )
    else:
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False  # decoder families: no KV cache outputs in the graph
    return model.eval()


def score_token_ids(tokenizer_path: str, head: str) -> tuple[int, int | None]:
    """The LM-head rows the reference reads: mxbai_rerank_v2.py prepare_predefined_inputs (yes_loc/no_loc) and
    FlagEmbedding decoder_only/base.py BaseLLMReranker.__init__ (yes_loc): first id, no special tokens."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    positive, negative = SCORE_TOKENS[head]

    def first_id(text: str) -> int:
        return tokenizer(text, add_special_tokens=False)["input_ids"][0]

    return first_id(positive), None if negative is None else first_id(negative)


def reduced_head(model: PreTrainedModel, positive_id: int, negative_id: int | None) -> tuple[torch.Tensor, float]:
    weight = model.get_output_embeddings().weight
    bias = getattr(model.get_output_embeddings(), "bias", None)
    head = weight[positive_id] - (weight[negative_id] if negative_id is not None else 0)
    head_bias = 0.0
    if bias is not None:
        head_bias = float(bias[positive_id] - (bias[negative_id] if negative_id is not None else 0))
    return head.detach().clone(), head_bias


def model_input_names(model: PreTrainedModel, head: str) -> list[str]:
    # BERT has two token types; XLM-R (type_vocab_size 1), DeBERTa-v2 (0) and decoders have none worth feeding.
    uses_token_types = head == "classifier" and getattr(model.config, "type_vocab_size", 0) > 1
    return ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_token_types else [])


def sample_inputs(
    model: PreTrainedModel, input_names: list[str], batch: int, seq: int, seed: int, padding_side: str = "right"
) -> dict[str, np.ndarray]:
    """Random in-vocabulary ids, padded rows of decreasing length, second segment marked in token_type_ids."""
    generator = np.random.default_rng(seed)
    lengths = seq - np.arange(batch) * (seq // batch)
    positions = np.arange(seq)[None, :]
    if padding_side == "left":
        positions = positions[:, ::-1]
    attention_mask = (positions < lengths[:, None]).astype(np.int64)
    pad_token_id = model.config.pad_token_id or 0
    low = min(1000, model.config.vocab_size // 2)
    input_ids = np.where(
        attention_mask == 1, generator.integers(low, model.config.vocab_size, (batch, seq)), pad_token_id
    )
    all_inputs = {
        "input_ids": input_ids.astype(np.int64),
        "attention_mask": attention_mask,
        "token_type_ids": ((positions >= lengths[:, None] // 2) & (attention_mask == 1)).astype(np.int64),
    }
    return {name: all_inputs[name] for name in input_names}


def store_embeddings_as_fp16(onnx_path: pathlib.Path) -> list[str]:
    """Float32 initializers read only as Gather data become float16 initializers + Cast(to float): exact for
    fp16-representable values (refused otherwise). Returns the converted initializer names."""
    model = onnx.load(str(onnx_path))
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, position))
    converted = []
    for initializer in graph.initializer:
        uses = consumers.get(initializer.name, [])
        if (
            initializer.data_type != TensorProto.FLOAT
            or len(initializer.dims) != 2
            or int(np.prod(initializer.dims)) < FP16_EMBEDDING_MIN_ELEMENTS
            or not uses
            or any(node.op_type != "Gather" or position != 0 for node, position in uses)
        ):
            continue
        values = numpy_helper.to_array(initializer)
        halved = values.astype(np.float16)
        if not np.array_equal(halved.astype(np.float32), values):
            raise SystemExit(f"{initializer.name} is not fp16-representable; --fp16-embeddings would change it")
        initializer.CopyFrom(numpy_helper.from_array(halved, initializer.name))
        for node, _ in uses:
            gathered = node.output[0]
            node.output[0] = f"{gathered}_fp16"
            cast = helper.make_node(
                "Cast", [node.output[0]], [gathered], to=TensorProto.FLOAT, name=f"{node.name}_cast"
            )
            graph.node.insert(list(graph.node).index(node) + 1, cast)
        converted.append(initializer.name)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))
    return converted


def export(
    model: PreTrainedModel,
    output: pathlib.Path,
    fp16: bool,
    head: str = "classifier",
    head_token_ids: tuple[int, int | None] | None = None,
    fp16_embeddings: bool = False,
) -> list[str]:
    input_names = model_input_names(model, head)
    # A copy is traced so the caller's float32 model stays the verification reference. Eager attention traces
    # into plain ONNX ops; SDPA's mask shortcuts are data-dependent branches the tracer would freeze.
    traced_model = copy.deepcopy(model)
    traced_model.set_attn_implementation("eager")
    if fp16:
        traced_model.half()
    if head == "classifier":
        exported = LogitsOnly(traced_model, input_names)
        padding_side = "right"
    else:
        if head_token_ids is None:
            raise ValueError(f"head {head} needs the score token ids")
        exported = ReducedHeadDecoder(traced_model, *reduced_head(model, *head_token_ids))
        padding_side = "left"
    example = sample_inputs(model, input_names, batch=2, seq=8, seed=0, padding_side=padding_side)
    output.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            exported,
            tuple(torch.from_numpy(example[name]) for name in input_names),
            str(output),
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, stable op set for these graphs
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes={**{name: DYNAMIC_AXES_OF_INPUT for name in input_names}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(output))
    if fp16_embeddings and not fp16:
        store_embeddings_as_fp16(output)
    return input_names


def reference_logits(
    model: PreTrainedModel, inputs: dict[str, np.ndarray], head: str, head_token_ids: tuple[int, int | None] | None
) -> np.ndarray:
    """The torch model's own scores: the classifier logit, or the decoder's full-vocabulary logits at the last
    position read at the score ids (as the reference libraries do, default position ids)."""
    with torch.no_grad():
        outputs = model(**{name: torch.from_numpy(value) for name, value in inputs.items()})
    if head == "classifier":
        return outputs.logits.numpy()
    positive_id, negative_id = head_token_ids
    last = outputs.logits[:, -1, :]
    score = last[:, positive_id] - (last[:, negative_id] if negative_id is not None else 0)
    return score[:, None].numpy()


def verify(
    model: PreTrainedModel,
    onnx_path: pathlib.Path,
    input_names: list[str],
    tolerance: float,
    head: str = "classifier",
    head_token_ids: tuple[int, int | None] | None = None,
) -> float:
    """Largest |onnx - torch| over VERIFICATION_SHAPES; raises if it reaches the tolerance."""
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    padding_side = "right" if head == "classifier" else "left"
    largest_difference = 0.0
    for seed, (batch, seq) in enumerate(VERIFICATION_SHAPES):
        inputs = sample_inputs(model, input_names, batch, seq, seed, padding_side)
        (onnx_logits,) = session.run(["logits"], inputs)
        if onnx_logits.dtype != np.float32 or onnx_logits.shape != (batch, 1):
            raise AssertionError(f"logits are {onnx_logits.dtype} {onnx_logits.shape}, expected float32 ({batch}, 1)")
        torch_logits = reference_logits(model, inputs, head, head_token_ids)
        largest_difference = max(largest_difference, float(np.max(np.abs(onnx_logits - torch_logits))))
    print(f"verified {onnx_path}: max |onnx - torch| = {largest_difference:.3g} over shapes {VERIFICATION_SHAPES}")
    if largest_difference >= tolerance:
        raise AssertionError(f"max abs difference {largest_difference:.3g} is not below {tolerance}")
    return largest_difference


def export_cross_encoder(
    model: PreTrainedModel,
    output: pathlib.Path,
    fp16: bool = False,
    tolerance: float | None = None,
    head: str = "classifier",
    head_token_ids: tuple[int, int | None] | None = None,
    fp16_embeddings: bool = False,
) -> float:
    """Exports and verifies; returns the largest |onnx - torch| seen."""
    input_names = export(model, output, fp16, head, head_token_ids, fp16_embeddings)
    return verify(
        model, output, input_names, DEFAULT_TOLERANCE[fp16] if tolerance is None else tolerance, head, head_token_ids
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="Hugging Face hub id or local checkpoint directory")
    parser.add_argument("--output", required=True, type=pathlib.Path, help="ONNX file to write")
    parser.add_argument("--head", choices=HEADS, help="score head (default: from the config's model_type)")
    parser.add_argument("--tokenizer", help="tokenizer for a decoder head's score token ids (default: checkpoint)")
    parser.add_argument("--fp16", action="store_true", help="export fp16 weights (logits stay float32)")
    parser.add_argument(
        "--fp16-embeddings", action="store_true", help="store Gather-only embedding matrices as fp16 (exact values)"
    )
    parser.add_argument("--tolerance", type=float, help="max |onnx - torch| allowed (default 1e-4, 2e-2 with --fp16)")
    arguments = parser.parse_args()
    head = arguments.head or default_head(arguments.checkpoint)
    head_token_ids = None
    if head != "classifier":
        head_token_ids = score_token_ids(arguments.tokenizer or arguments.checkpoint, head)
        print(f"head {head}: score token ids {head_token_ids}")
    export_cross_encoder(
        load_model(arguments.checkpoint, head),
        arguments.output,
        arguments.fp16,
        arguments.tolerance,
        head,
        head_token_ids,
        arguments.fp16_embeddings,
    )


if __name__ == "__main__":
    main()
