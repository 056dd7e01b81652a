"""Trains the small test tokenizers of the reranker families whose real tokenizers cannot be had offline.

Writes, under test/fixtures/tokenizers/ (tracked, each a directory that AutoTokenizer loads):
  deberta-v3-unigram-test/  Unigram + Metaspace like DeBERTa-v3 (mxbai-rerank-*-v1): [PAD] 0, [CLS] 1, [SEP] 2,
                            [UNK] 3, ..., [MASK] last; pair template [CLS] A [SEP] B [SEP], type ids 0 0 0 1 1.
  xlmr-unigram-test/        Unigram + Metaspace like XLM-RoBERTa (bge-reranker-v2-m3), with the nmt_nfkc
                            precompiled charsmap as normalizer: <s> 0, <pad> 1, </s> 2, <unk> 3, ..., <mask> last;
                            pair template <s> A </s></s> B </s>, no token type ids.
  gemma-bpe-test/           BPE with byte fallback like Gemma (bge-reranker-v2-gemma): <pad> 0, <eos> 1, <bos> 2,
                            <unk> 3, <mask> 4, <0x00>..<0xFF> 5..260, then merges; spaces normalized to "▁", no
                            dummy prefix; "Yes" is one token.
The vocabularies are trained on the msmarco-5k corpus and queries (../shared/data/beir/msmarco-5k; lines split on
"\\n" only) plus a few fixed lines: the Unigram ones with SentencePiece (as the real ones were; one thread, so
reproducible), the BPE one with the `tokenizers` library's BpeTrainer. A rerun writes byte-identical files.

Transformers 5 does not use a tokenizer.json as it is when tokenizer_config.json names a tokenizer class with its
own __init__ (DebertaV2Tokenizer, XLMRobertaTokenizer, GemmaTokenizer): it keeps the vocabulary (and merges, and
the post-processor) and rebuilds normalizer, pre-tokenizer and decoder the way that class does
(transformers/tokenization_utils_tokenizers.py, TokenizersBackend.convert_to_native_format). So each trained
tokenizer is loaded with AutoTokenizer once and saved again: the committed tokenizer.json is the pipeline the
reference libraries actually run, and the script checks that the `tokenizers` library loading that file encodes
every sample exactly like AutoTokenizer does.

Dev-only (needs transformers and sentencepiece, for the nmt_nfkc charsmap):
  python test/fixtures-build/build_test_tokenizers.py [--output-dir test/fixtures/tokenizers]
"""

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # before `tokenizers` starts its thread pool: deterministic training
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import io
import json
import pathlib
import shutil
import tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
MSMARCO_DIR = REPO_ROOT.parent / "shared" / "data" / "beir" / "msmarco-5k"
VOCABULARY_SIZE = 4000
BGE_GEMMA_PROMPT = (
    "Given a query A and a passage B, determine whether the passage contains an answer to the query by providing a "
    "prediction of either 'Yes' or 'No'."
)
# Lines added to the corpus: the decoder prompts' words and a few scripts msmarco lacks, so that the fixtures
# cover them like the real (much larger) vocabularies do; other rare characters stay unknown (or byte fallback).
EXTRA_TRAINING_LINES = [BGE_GEMMA_PROMPT, "A: B:", *["Yes", "No", "Yes.", "No."] * 50] + [
    "naïve café résumé Straße façade İstanbul Ünïcödé",
    "東京タワーは日本の電波塔です。北京大学の学生",
    "Ελληνικά Русский текст العربية עברית हिन्दी ไทย 한국어",
] * 20


def read_jsonl_texts(path: pathlib.Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"missing {path}: the shared msmarco-5k test data (../shared/data/beir/msmarco-5k)")
    # Split on "\n" only: the corpus contains U+2028, which str.splitlines() would also split on.
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def training_corpus() -> list[str]:
    return (
        read_jsonl_texts(MSMARCO_DIR / "corpus.jsonl")
        + read_jsonl_texts(MSMARCO_DIR / "queries.jsonl")
        + EXTRA_TRAINING_LINES
    )


def train_sentencepiece_unigram(corpus: list[str], control_pieces: dict[str, tuple[int, str]]) -> tuple[list, bytes]:
    """A SentencePiece Unigram model, trained the way DeBERTa-v3's and XLM-R's were (nmt_nfkc normalization).
    SentencePiece rather than tokenizers' UnigramTrainer: the latter breaks ties in hash-map order, so two runs
    give different vocabularies; SentencePiece with one thread is reproducible.
    `control_pieces` maps SentencePiece's roles pad/bos/eos/unk to (id, piece).
    Returns the (piece, score) list, control pieces scored 0, and the compiled normalization table."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        model_type="unigram",
        vocab_size=VOCABULARY_SIZE,
        normalization_rule_name="nmt_nfkc",
        character_coverage=1.0,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=1,
        minloglevel=2,
        **{f"{role}_id": index for role, (index, _) in control_pieces.items()},
        **{f"{role}_piece": piece for role, (_, piece) in control_pieces.items()},
    )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    control_ids = {index for index, _ in control_pieces.values()}
    pieces = [(piece.piece, 0.0 if index in control_ids else piece.score) for index, piece in enumerate(proto.pieces)]
    for index, piece in control_pieces.values():
        assert pieces[index][0] == piece, (index, pieces[index], piece)
    return pieces, proto.normalizer_spec.precompiled_charsmap


def hf_tokenizer_config(tokenizer_class: str, model_max_length: int, tokens: dict[str, str], **options) -> dict:
    """tokenizer_config.json content: the class, its options, the special tokens by role ("cls" -> cls_token)."""
    return {
        "tokenizer_class": tokenizer_class,
        **options,
        **{f"{role}_token": token for role, token in tokens.items()},
        "model_max_length": model_max_length,
    }


def unigram_tokenizer(vocab, unk_token: str, normalizer, template: dict, special_tokens: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=[piece for piece, _ in vocab].index(unk_token)))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    ids = {piece: index for index, (piece, _) in enumerate(vocab)}
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template["single"],
        pair=template["pair"],
        special_tokens=[(token, ids[token]) for token in sorted(set(template["special"]), key=ids.get)],
    )
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in special_tokens])
    return tokenizer


def build_deberta(corpus: list[str]) -> tuple[Tokenizer, dict]:
    # DeBERTa-v3's spm.model: [PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3; [MASK] is appended after the pieces.
    normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(left=False)]
    )
    pieces, _ = train_sentencepiece_unigram(
        corpus, {"pad": (0, "[PAD]"), "bos": (1, "[CLS]"), "eos": (2, "[SEP]"), "unk": (3, "[UNK]")}
    )
    vocab = pieces + [("[MASK]", 0.0)]
    template = {
        "single": "[CLS]:0 $A:0 [SEP]:0",
        "pair": "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        "special": ["[CLS]", "[SEP]"],
    }
    tokenizer = unigram_tokenizer(vocab, "[UNK]", normalizer, template, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"])
    tokens = {
        "bos": "[CLS]",
        "eos": "[SEP]",
        "unk": "[UNK]",
        "sep": "[SEP]",
        "pad": "[PAD]",
        "cls": "[CLS]",
        "mask": "[MASK]",
    }
    return tokenizer, hf_tokenizer_config("DebertaV2Tokenizer", 512, tokens, do_lower_case=False, split_by_punct=False)


def build_xlmr(corpus: list[str]) -> tuple[Tokenizer, dict]:
    # XLM-R (fairseq order): <s> 0, <pad> 1, </s> 2, <unk> 3, sentencepiece pieces, <mask> last.
    pieces, charsmap = train_sentencepiece_unigram(
        corpus, {"bos": (0, "<s>"), "pad": (1, "<pad>"), "eos": (2, "</s>"), "unk": (3, "<unk>")}
    )
    normalizer = normalizers.Precompiled(charsmap)
    vocab = pieces + [("<mask>", 0.0)]
    template = {"single": "<s> $A </s>", "pair": "<s> $A </s> </s> $B </s>", "special": ["<s>", "</s>"]}
    tokenizer = unigram_tokenizer(vocab, "<unk>", normalizer, template, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tokens = {
        "bos": "<s>",
        "eos": "</s>",
        "sep": "</s>",
        "cls": "<s>",
        "unk": "<unk>",
        "pad": "<pad>",
        "mask": "<mask>",
    }
    return tokenizer, hf_tokenizer_config("XLMRobertaTokenizer", 8192, tokens)


def build_gemma(corpus: list[str]) -> tuple[Tokenizer, dict]:
    special_tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    byte_tokens = [f"<0x{value:02X}>" for value in range(256)]
    trained = Tokenizer(models.BPE())
    trained.normalizer = normalizers.Replace(" ", "▁")
    # Words keep their leading "▁" (SentencePiece-style pieces) while merges are learned.
    trained.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    trainer = trainers.BpeTrainer(
        vocab_size=VOCABULARY_SIZE - len(special_tokens) - len(byte_tokens),
        limit_alphabet=300,
        show_progress=False,
    )
    trained.train_from_iterator(corpus, trainer=trainer)
    trained_model = json.loads(trained.to_str())["model"]
    vocab = {token: index for index, token in enumerate(special_tokens + byte_tokens)}
    for token, _ in sorted(trained_model["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in trained_model["merges"]]
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True, dropout=None)
    )
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos>:0 $A:0", pair="<bos>:0 $A:0 <bos>:1 $B:1", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in special_tokens])
    tokens = {"bos": "<bos>", "eos": "<eos>", "unk": "<unk>", "pad": "<pad>", "mask": "<mask>"}
    options = {"add_bos_token": True, "add_eos_token": False, "padding_side": "left"}
    return tokenizer, hf_tokenizer_config("GemmaTokenizer", 8192, tokens, **options)


BUILDERS = {
    "deberta-v3-unigram-test": build_deberta,
    "xlmr-unigram-test": build_xlmr,
    "gemma-bpe-test": build_gemma,
}


def save_as_transformers_loads_it(tokenizer: Tokenizer, config: dict, output: pathlib.Path) -> None:
    """Writes tokenizer.json + tokenizer_config.json, loads them with AutoTokenizer and saves that tokenizer to
    `output`, so the tokenizer.json there is the pipeline transformers 5 really runs."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as staging:
        tokenizer.save(os.path.join(staging, "tokenizer.json"))
        with open(os.path.join(staging, "tokenizer_config.json"), "w", encoding="utf-8") as file:
            json.dump(config, file, indent=2)
        loaded = AutoTokenizer.from_pretrained(staging)
        if output.exists():
            shutil.rmtree(output)
        loaded.save_pretrained(output)
    # save_pretrained records where it was loaded from; keep the committed files free of temporary paths.
    config_path = output / "tokenizer_config.json"
    saved_config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("name_or_path", "is_local", "local_files_only"):
        saved_config.pop(key, None)
    config_path.write_text(json.dumps(saved_config, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
    # Transformers 4 reads the special tokens from here; transformers 5 no longer writes it.
    special_tokens = {key: value for key, value in sorted(config.items()) if key.endswith("_token")}
    (output / "special_tokens_map.json").write_text(json.dumps(special_tokens, indent=2) + "\n", "utf-8")


def check_file_matches_transformers(output: pathlib.Path, samples: list[str]) -> None:
    """The tokenizer.json read by `tokenizers` (what the gateway runs) must encode like AutoTokenizer."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(output)
    plain = Tokenizer.from_file(str(output / "tokenizer.json"))
    expected = reference(samples, add_special_tokens=False)["input_ids"]
    actual = [encoding.ids for encoding in plain.encode_batch(samples, add_special_tokens=False)]
    mismatches = [sample for sample, left, right in zip(samples, expected, actual, strict=True) if left != right]
    if mismatches:
        raise AssertionError(
            f"{output}: tokenizer.json encodes {len(mismatches)} samples differently, e.g. {mismatches[:3]}"
        )
    pair_expected = reference(samples[:50], samples[50:100])["input_ids"]
    pair_actual = [
        encoding.ids for encoding in plain.encode_batch(list(zip(samples[:50], samples[50:100], strict=True)))
    ]
    if pair_expected != pair_actual:
        raise AssertionError(f"{output}: pair encodings differ between tokenizer.json and AutoTokenizer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=pathlib.Path, default=REPO_ROOT / "test" / "fixtures" / "tokenizers")
    parser.add_argument("--only", choices=sorted(BUILDERS), action="append", help="build only these (repeatable)")
    arguments = parser.parse_args()
    corpus = training_corpus()
    samples = corpus[:300] + corpus[-120:] + ["  leading and trailing  ", "tab\tnew\nline", "ﬁ ① ｆｕｌｌ 😀", "Yes"]
    for name in arguments.only or sorted(BUILDERS):
        tokenizer, config = BUILDERS[name](corpus)
        output = arguments.output_dir / name
        save_as_transformers_loads_it(tokenizer, config, output)
        check_file_matches_transformers(output, samples)
        sizes = ", ".join(f"{path.name} {path.stat().st_size} B" for path in sorted(output.iterdir()))
        print(
            f"{output.relative_to(REPO_ROOT)}: vocabulary "
            f"{Tokenizer.from_file(str(output / 'tokenizer.json')).get_vocab_size()} ({sizes})"
        )


if __name__ == "__main__":
    main()
