"""Builds the ONNX bi-encoder all-MiniLM-L6-v2 from its safetensors checkpoint with numpy + onnx only (no torch).

The graph is what sentence-transformers runs for this model (modules.json: Transformer -> Pooling -> Normalize):
  BERT encoder (config.json: post-LayerNorm, absolute positions, erf GELU, additive key mask of float32 min)
  -> mean pooling over the attention mask: sum(h * mask) / max(sum(mask), 1e-9)   (1_Pooling: mean tokens)
  -> L2 normalization: e / max(||e||, 1e-12)                                      (torch F.normalize)
Served contract (triton-models/python/onnx_reranker.py passes any float output through):
  inputs   input_ids, attention_mask, token_type_ids: int64 [batch, seq] (a text encoded alone:
           [CLS] text [SEP], token types 0, right padding with 0, at most max_seq_length 256 tokens)
  output   embedding: float32 [batch, hidden] (384); the score of a query/document pair is the dot product of
           their embeddings (= cosine similarity).
Weights stay float32 (the real ones are not fp16-representable); the file is ~90 MB and never committed:
ops/setup.sh can run this with the project venv (needs numpy and onnx; safetensors is read directly).
test/fixtures-build/make_goldens.py (dev) checks the result against SentenceTransformer.encode(normalize_embeddings=True).

  python export/export_minilm_numpy.py [--checkpoint .cache/checkpoints/all-minilm-l6-v2]
                                        [--output triton-models/cpu/all-minilm-l6-v2/1/model.onnx] [--check]
--check also runs the file with onnxruntime on a few texts (tokenized with the checkpoint's tokenizer.json) and
asserts unit-norm embeddings and a plausible similarity order.
"""

import argparse
import json
import pathlib
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / ".cache" / "checkpoints" / "all-minilm-l6-v2"
DEFAULT_OUTPUT = REPO_ROOT / "triton-models" / "cpu" / "all-minilm-l6-v2" / "1" / "model.onnx"
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "embedding"
SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
POOLING_MIN_TOKENS = 1e-9  # sentence_transformers Pooling: torch.clamp(sum_mask, min=1e-9)
NORMALIZE_EPS = 1e-12  # torch.nn.functional.normalize default


def read_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
    """The safetensors layout: u64 little-endian header size, JSON header {name: {dtype, shape, data_offsets}},
    then the raw little-endian tensor bytes (offsets relative to the end of the header)."""
    data = path.read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    body = memoryview(data)[8 + header_size :]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        dtype = np.dtype(SAFETENSORS_DTYPES[spec["dtype"]]).newbyteorder("<")
        tensors[name] = (
            np.frombuffer(body[start:end], dtype=dtype).reshape(spec["shape"]).astype(dtype.newbyteorder("="))
        )
    return tensors


class GraphBuilder:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.counter = 0

    def name(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def weight(self, key: str, transpose: bool = False) -> str:
        value = self.weights[key].astype(np.float32)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value.T if transpose else value), key))
        return key

    def constant(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attributes) -> str:
        output = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=f"{output}_node", **attributes))
        return output

    def linear(self, x: str, prefix: str) -> str:
        return self.op(
            "Add",
            [self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)]), self.weight(f"{prefix}.bias")],
        )

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            axis=-1,
            epsilon=eps,
        )


def build_graph(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_size = hidden // heads
    eps = config["layer_norm_eps"]
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit(
            f"unsupported BERT variant: {config.get('hidden_act')}, {config.get('position_embedding_type')}"
        )
    if "embeddings.word_embeddings.weight" not in weights:  # a BertModel saved under a "bert." prefix
        weights = {key.removeprefix("bert."): value for key, value in weights.items()}
    g = GraphBuilder(weights)

    # Embeddings: word + absolute position (0..seq-1) + token type, then LayerNorm.
    shape = g.op("Shape", ["input_ids"])
    seq_len = g.op("Gather", [shape, g.constant("one_index", np.array(1, dtype=np.int64))], axis=0)
    positions = g.op(
        "Range",
        [g.constant("zero", np.array(0, dtype=np.int64)), seq_len, g.constant("step", np.array(1, dtype=np.int64))],
    )
    embeddings = g.op(
        "Add",
        [
            g.op(
                "Add",
                [
                    g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"], axis=0),
                    g.op("Gather", [g.weight("embeddings.position_embeddings.weight"), positions], axis=0),
                ],
            ),
            g.op("Gather", [g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], axis=0),
        ],
    )
    x = g.layer_norm(embeddings, "embeddings.LayerNorm", eps)

    # Additive key mask [batch, 1, 1, seq]: 0 where attended, float32 min where padded (HF BERT's extended mask).
    mask_float = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.constant("one", np.array(1.0, dtype=np.float32)), mask_float])
    additive = g.op("Mul", [inverted, g.constant("float_min", np.array(np.finfo(np.float32).min, dtype=np.float32))])
    key_mask = g.op("Unsqueeze", [additive, g.constant("mask_axes", np.array([1, 2], dtype=np.int64))])

    split_heads_shape = g.constant("split_heads_shape", np.array([0, 0, heads, head_size], dtype=np.int64))
    merge_heads_shape = g.constant("merge_heads_shape", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.constant("scale", np.array(1.0 / np.sqrt(head_size), dtype=np.float32))
    sqrt_half = g.constant("sqrt_half", np.array(np.sqrt(0.5), dtype=np.float32))
    half = g.constant("half", np.array(0.5, dtype=np.float32))
    one = g.constant("one_f", np.array(1.0, dtype=np.float32))

    def heads_first(projection: str) -> str:  # [b, s, H] -> [b, heads, s, d]
        return g.op("Transpose", [g.op("Reshape", [projection, split_heads_shape])], perm=[0, 2, 1, 3])

    for layer in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{layer}"
        query = heads_first(g.linear(x, f"{prefix}.attention.self.query"))
        key = heads_first(g.linear(x, f"{prefix}.attention.self.key"))
        value = heads_first(g.linear(x, f"{prefix}.attention.self.value"))
        scores = g.op("Mul", [g.op("MatMul", [query, g.op("Transpose", [key], perm=[0, 1, 3, 2])]), scale])
        probabilities = g.op("Softmax", [g.op("Add", [scores, key_mask])], axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probabilities, value])], perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, merge_heads_shape])
        attention = g.linear(context, f"{prefix}.attention.output.dense")
        x = g.layer_norm(g.op("Add", [attention, x]), f"{prefix}.attention.output.LayerNorm", eps)
        intermediate = g.linear(x, f"{prefix}.intermediate.dense")
        # erf GELU: 0.5 * x * (1 + erf(x / sqrt(2)))
        gelu = g.op(
            "Mul",
            [
                g.op("Mul", [intermediate, half]),
                g.op("Add", [one, g.op("Erf", [g.op("Mul", [intermediate, sqrt_half])])]),
            ],
        )
        output = g.linear(gelu, f"{prefix}.output.dense")
        x = g.layer_norm(g.op("Add", [output, x]), f"{prefix}.output.LayerNorm", eps)

    # Mean pooling over attended tokens, then L2 normalization.
    token_mask = g.op("Unsqueeze", [mask_float, g.constant("token_axis", np.array([2], dtype=np.int64))])
    axis_seq = g.constant("seq_axis", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, token_mask]), axis_seq], keepdims=0)
    counts = g.op(
        "Max",
        [
            g.op("ReduceSum", [token_mask, axis_seq], keepdims=0),
            g.constant("min_tokens", np.array(POOLING_MIN_TOKENS, dtype=np.float32)),
        ],
    )
    pooled = g.op("Div", [summed, counts])
    norm = g.op("ReduceL2", [pooled], axes=[1], keepdims=1)  # opset 17: axes is still an attribute here
    norm = g.op("Max", [norm, g.constant("normalize_eps", np.array(NORMALIZE_EPS, dtype=np.float32))])
    g.nodes.append(helper.make_node("Div", [pooled, norm], [OUTPUT_NAME], name="normalize_node"))

    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2_mean_pooled_normalized",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"]) for name in INPUT_NAMES],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rerank-gateway")
    model.ir_version = 8  # opset 17's IR version: loadable by every onnxruntime that runs opset 17
    onnx.checker.check_model(model, full_check=True)
    return model


def check(onnx_path: pathlib.Path, checkpoint: pathlib.Path) -> None:
    import onnxruntime

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = ["what is the capital of france", "Paris is the capital of France.", "Bananas are rich in potassium."]
    encodings = tokenizer.encode_batch(texts)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (embeddings,) = session.run([OUTPUT_NAME], feeds)
    norms = np.linalg.norm(embeddings, axis=1)
    similarities = embeddings[1:] @ embeddings[0]
    print(f"check: norms {np.round(norms, 6).tolist()}, cos(query, docs) {np.round(similarities, 4).tolist()}")
    if not np.allclose(norms, 1.0, atol=1e-5) or not similarities[0] > similarities[1]:
        raise SystemExit(f"{onnx_path}: unexpected embeddings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=pathlib.Path, default=DEFAULT_CHECKPOINT, help="default: %(default)s")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="run the result with onnxruntime on a few texts")
    arguments = parser.parse_args()
    config = json.loads((arguments.checkpoint / "config.json").read_text(encoding="utf-8"))
    model = build_graph(read_safetensors(arguments.checkpoint / "model.safetensors"), config)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(arguments.output))
    print(f"wrote {arguments.output} ({arguments.output.stat().st_size} bytes)")
    if arguments.check:
        check(arguments.output, arguments.checkpoint)


if __name__ == "__main__":
    main()
