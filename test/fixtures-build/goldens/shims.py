"""Shims for the reference libraries under transformers 5.

The reference libraries were written for transformers 4; with transformers 5 three of them do not run unaided.
These shims supply only what transformers 5 removed, with transformers' own code where it still exists:
  * FlagEmbedding: `import FlagEmbedding` fails (its MiniCPM layerwise / gemma2 lightweight model files import
    transformers.modeling_attn_mask_utils, removed in 5). A stub module with those four names lets the package
    import; the classes the goldens use (encoder_only/base.py, decoder_only/base.py) never touch them.
  * mxbai_rerank MxbaiRerankV1.predict calls tokenizer.batch_encode_plus (removed in 5): supplied as the
    tokenizer call on the same pairs (batch_encode_plus(pairs, **kw) == tokenizer(firsts, seconds, **kw) in 4).
  * mxbai_rerank MxbaiRerankV2.prepare_inputs calls tokenizer.prepare_for_model (removed from the Rust-backed
    tokenizers in 5): supplied as transformers 5's own PythonBackend.prepare_for_model / truncate_sequences
    (transformers/tokenization_python.py), which do the id-level only_second truncation transformers 4 did.
FlagReranker's own v5 path (FlagEmbedding/utils/tokenizer_compat.py prepare_for_model_compat, lines 94-122)
decodes the already tokenized query and passage back to text and re-encodes them as a pair; that round trip is
what the reference really feeds and what the goldens record. It needs no shim.
"""

import contextlib
import sys
import types


def shim_flagembedding_import() -> None:
    name = "transformers.modeling_attn_mask_utils"
    if name in sys.modules:
        return
    with contextlib.suppress(ImportError):
        __import__(name)
        return
    stub = types.ModuleType(name)
    stub.__doc__ = (
        "make_goldens.py stub: removed in transformers 5; only FlagEmbedding's unused MiniCPM model imports it"
    )

    def removed(*_args, **_kwargs):
        raise NotImplementedError(f"{name} was removed in transformers 5 (make_goldens.py stub)")

    stub.AttentionMaskConverter = type("AttentionMaskConverter", (), {"__init__": removed})
    for function_name in (
        "_prepare_4d_attention_mask",
        "_prepare_4d_causal_attention_mask",
        "_prepare_4d_causal_attention_mask_for_sdpa",
    ):
        setattr(stub, function_name, removed)
    sys.modules[name] = stub


def shim_batch_encode_plus(tokenizer) -> None:
    def batch_encode_plus(batch_text_or_text_pairs, **kwargs):
        pairs = list(batch_text_or_text_pairs)
        return tokenizer([pair[0] for pair in pairs], [pair[1] for pair in pairs], **kwargs)

    tokenizer.batch_encode_plus = batch_encode_plus


def shim_prepare_for_model(tokenizer) -> None:
    from transformers.tokenization_python import PythonBackend

    tokenizer.prepare_for_model = types.MethodType(PythonBackend.prepare_for_model, tokenizer)
    tokenizer.truncate_sequences = types.MethodType(PythonBackend.truncate_sequences, tokenizer)
