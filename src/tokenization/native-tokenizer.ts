import { readFileSync } from "node:fs";
import { Tokenizer } from "tokenizers";
import { prefixCutsOf } from "./precut.js";
import type { PieceTokenizer } from "./tokenizer.js";

/**
 * Hugging Face's Rust tokenizers through their napi binding: the same code as the Python `tokenizers`
 * package that the models were trained and evaluated with, so ids match by construction
 * (bench/tokenizers.ts measured the pure-JS port diverging, e.g. on Greek final sigma).
 * encodeBatch runs on libuv's thread pool and parallelizes over texts with rayon, off the JS thread.
 */
export function loadNativeTokenizer(tokenizerFile: string): PieceTokenizer {
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  // A tokenizer.json may enable its own truncation and padding (all-minilm-l6-v2's truncates at 256 and
  // pads): the gateway truncates pairs per model in assemblePairs and pads per Triton batch.
  tokenizer.disableTruncation();
  tokenizer.disablePadding();
  return {
    prefixCuts: prefixCutsOf(JSON.parse(readFileSync(tokenizerFile, "utf8"))),
    async encodeWithoutSpecialTokens(texts) {
      const encodings = await tokenizer.encodeBatch([...texts], { addSpecialTokens: false });
      return encodings.map((encoding) => encoding.getIds());
    },
    // FlagEmbedding utils/tokenizer_compat.py decodes with skip_special_tokens=False and
    // clean_up_tokenization_spaces=False: transformers then returns the Rust decoder's text, as this does.
    decodeKeepingSpecialTokens: (ids) =>
      tokenizer.decodeBatch(
        ids.map((sequence) => [...sequence]),
        false,
      ),
    tokenToId: (token) => tokenizer.tokenToId(token) ?? undefined,
  };
}
