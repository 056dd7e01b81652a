"""Builds a Hugging Face tokenizer directory for the Qwen2 byte-level BPE from its vocab.json + merges.txt.

The Qwen2 tokenizer (the tokenizer family of mxbai-rerank-base-v2 / -large-v2) is available here only as
vocab.json, merges.txt, tokenizer_config.json, added_tokens.json and special_tokens_map.json (the shared test data,
../shared/data/tokenizers/qwen2). This script writes OUTPUT_DIR/tokenizer.json with the pipeline that transformers
5's Qwen2Tokenizer builds from those files (transformers/models/qwen2/tokenization_qwen2.py):
  normalizer     NFC
  pre-tokenizer  Split(Qwen2 regex, isolated) then ByteLevel(add_prefix_space=false, use_regex=false)
  model          BPE(vocab.json, merges.txt), no unk token, no byte fallback
  decoder        ByteLevel
  added tokens   <|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645 (special, matched before
                 normalization)
and copies the HF config files next to it, so both `tokenizers.Tokenizer.from_file` and
`transformers.AutoTokenizer.from_pretrained(OUTPUT_DIR)` load it.

Needs only the `tokenizers` package (runs with the project venv's python; no torch):
  python test/fixtures-build/build_qwen2_tokenizer.py SHARED_QWEN2_DIR OUTPUT_DIR
e.g. python test/fixtures-build/build_qwen2_tokenizer.py ../shared/data/tokenizers/qwen2 .cache/tokenizers/qwen2
"""

import argparse
import json
import pathlib
import shutil
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

# transformers/models/qwen2/tokenization_qwen2.py, PRETOKENIZE_REGEX
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
BASE_VOCABULARY_SIZE = 151643
ADDED_TOKENS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# A few encodings fixed by the real Qwen2 tokenizer (ids of its vocab.json): a wrong merges order or pipeline shows.
KNOWN_ENCODINGS = {
    "1": [16],
    "0": [15],
    "\n": [198],
    "Hello world": [9707, 1879],
    "<|im_start|>user\n": [151644, 872, 198],
}


def read_merges(path: pathlib.Path) -> list[tuple[str, str]]:
    merges = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line or (number == 1 and line.startswith("#version")):
            continue
        left, separator, right = line.partition(" ")
        if not separator or not left or not right or " " in right:
            raise SystemExit(f"{path}:{number}: not a merge line: {line!r}")
        merges.append((left, right))
    return merges


def build(shared_dir: pathlib.Path) -> Tokenizer:
    vocab = json.loads((shared_dir / "vocab.json").read_text(encoding="utf-8"))
    if len(vocab) != BASE_VOCABULARY_SIZE:
        raise SystemExit(f"{shared_dir}/vocab.json has {len(vocab)} tokens, Qwen2's has {BASE_VOCABULARY_SIZE}")
    added = json.loads((shared_dir / "added_tokens.json").read_text(encoding="utf-8"))
    if added != ADDED_TOKENS:
        raise SystemExit(f"{shared_dir}/added_tokens.json is {added}, expected {ADDED_TOKENS}")
    tokenizer = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=read_merges(shared_dir / "merges.txt"),
            dropout=None,
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in sorted(ADDED_TOKENS, key=ADDED_TOKENS.get)]
    )
    for token, token_id in ADDED_TOKENS.items():
        if tokenizer.token_to_id(token) != token_id:
            raise SystemExit(f"{token} got id {tokenizer.token_to_id(token)}, expected {token_id}")
    for text, expected in KNOWN_ENCODINGS.items():
        actual = tokenizer.encode(text, add_special_tokens=False).ids
        if actual != expected:
            raise SystemExit(f"{text!r} encodes to {actual}, the Qwen2 tokenizer gives {expected}")
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shared_dir", type=pathlib.Path, help="directory with vocab.json, merges.txt and configs")
    parser.add_argument("output_dir", type=pathlib.Path, help="directory to write tokenizer.json and configs to")
    arguments = parser.parse_args()
    missing = [
        name for name in ("vocab.json", "merges.txt", *CONFIG_FILES) if not (arguments.shared_dir / name).is_file()
    ]
    if missing:
        sys.exit(f"{arguments.shared_dir} lacks {', '.join(missing)} (the Qwen2 tokenizer test data)")
    tokenizer = build(arguments.shared_dir)
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(arguments.output_dir / "tokenizer.json"))
    for name in CONFIG_FILES:
        shutil.copyfile(arguments.shared_dir / name, arguments.output_dir / name)
    print(f"wrote {arguments.output_dir / 'tokenizer.json'} ({tokenizer.get_vocab_size()} tokens)")


if __name__ == "__main__":
    main()
