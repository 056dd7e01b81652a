/**
 * Cutting texts before the tokenizer (src/tokenization/precut.ts): which tokenizers may be cut and where, that a
 * cut at an allowed place gives exactly the whole text's first ids with the committed fixture tokenizers
 * (XLM-R and DeBERTa-v3 Unigram, Gemma's byte-fallback BPE without pre-tokenizer) on adversarial text, and that
 * the encoder's rows are the same with and without cutting, for every family and both strategies.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/config/paths.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { EncodedRows } from "../../src/tokenization/encoded-rows.js";
import { loadNativeTokenizer } from "../../src/tokenization/native-tokenizer.js";
import { encodeLeading, isCutAt, nextCut, prefixCutsOf } from "../../src/tokenization/precut.js";
import type { PieceTokenizer, PrefixCuts } from "../../src/tokenization/tokenizer.js";

const fixtureDir = join(packageRoot(), "test", "fixtures", "tokenizers");
const fixtures = {
  xlmr: join(fixtureDir, "xlmr-unigram-test", "tokenizer.json"),
  deberta: join(fixtureDir, "deberta-v3-unigram-test", "tokenizer.json"),
  gemma: join(fixtureDir, "gemma-bpe-test", "tokenizer.json"),
};
const fixtureConfig = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
const spaceCuts: PrefixCuts & { safe: true } = { safe: true, boundaryChars: [" "] };

/** Texts that try to break a cut: long words, no space, marks, scripts without spaces, emoji, odd whitespace. */
const adversarial = [
  `${"x".repeat(400)} supercalifragilisticexpialidocious${"é".repeat(200)} end`,
  "nowhitespaceatall".repeat(60),
  "combining e\u0301 a\u0308 o\u0323\u0302 \u0301 lone mark after a space \u0301\u0302 x",
  "東京タワーは日本の電波塔です。北京大学の学生 中文 测试 한국어 ไทย हिन्दी ١٢٣",
  "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷 keycap 1️⃣ end",
  "prepend \u0600 \u0600x \u0d4e z and format zero\u200b width\u200d joiner \ufeff bom",
  "tab\there  two  spaces   three\n\nnewline \r\n crlf \u00a0nbsp \u3000ideographic \u2028line",
  "specials [CLS] <s> </s> <|im_start|> <bos> <unk> ▁ ▁▁ a▁ b Ġ x",
  "compat ½ ¨ ‗ ﬁ ㈱ ｆｕｌｌ 𝔘𝔫𝔦 Ⅻ ΟΔΥΣΣΕΥΣ Σ ß İstanbul",
  "contractions he's they're we've I'm you'll she'd DON'T a.\nb. c,\td ; e -- f",
];

/** Adversarial texts interleaved with ordinary words, long enough to be cut many times. */
function adversarialDocument(seed: number): string {
  const words = "the quick brown fox jumps over the lazy dog while reading a long passage about".split(" ");
  const parts: string[] = [];
  for (let index = 0; parts.join(" ").length < 2500; index++) {
    parts.push(index % 7 === 3 ? adversarial[(seed + index) % adversarial.length]! : words[(seed * 5 + index) % words.length]!);
  }
  return parts.join(seed % 2 === 0 ? " " : "  ");
}

describe("prefixCutsOf", () => {
  it.each(Object.entries(fixtures))("finds the %s fixture cuttable", (_, file) => {
    expect(prefixCutsOf(fixtureConfig(file))).toMatchObject({ safe: true });
  });

  it("names what the space becomes: ▁ for Gemma's normalizer and DeBERTa's Metaspace", () => {
    expect(prefixCutsOf(fixtureConfig(fixtures.gemma))).toEqual({ safe: true, boundaryChars: ["▁"] });
    expect(prefixCutsOf(fixtureConfig(fixtures.deberta))).toEqual({ safe: true, boundaryChars: ["▁"] });
    expect(prefixCutsOf(fixtureConfig(fixtures.xlmr))).toEqual({ safe: true, boundaryChars: [" "] });
  });

  const gemma = fixtureConfig(fixtures.gemma);
  const gemmaModel = gemma.model as { vocab: Record<string, number> };
  it.each([
    ["an unknown normalizer", { ...gemma, normalizer: { type: "SomethingNew" } }, "normalizer SomethingNew"],
    ["an unknown pre-tokenizer", { ...gemma, pre_tokenizer: { type: "UnicodeScripts" } }, "UnicodeScripts"],
    [
      "a BPE token that merges across ▁",
      { ...gemma, model: { ...gemmaModel, vocab: { ...gemmaModel.vocab, "a▁": 9999 } } },
      '"a▁"',
    ],
    ["an added token holding a space", { ...gemma, added_tokens: [{ content: "hello world" }] }, "hello world"],
    [
      "a Split that keeps the space with the word before",
      { ...gemma, normalizer: null, pre_tokenizer: { type: "Split", pattern: { String: " " }, behavior: "MergedWithPrevious" } },
      "MergedWithPrevious",
    ],
    [
      "a Split regex it does not know",
      { ...gemma, normalizer: null, pre_tokenizer: { type: "Split", pattern: { Regex: "\\w+ " }, behavior: "Isolated" } },
      "Split regex",
    ],
    [
      "WordPiece without a split at spaces",
      { ...gemma, normalizer: null, pre_tokenizer: null, model: { type: "WordPiece", vocab: { a: 0 } } },
      "WordPiece needs a pre-tokenizer",
    ],
    [
      "Metaspace after BertNormalizer's CJK padding",
      { ...gemma, normalizer: { type: "BertNormalizer" }, pre_tokenizer: { type: "Metaspace", replacement: "▁" } },
      "trailing space",
    ],
  ])("refuses %s", (_, config, reason) => {
    const cuts = prefixCutsOf(config);
    expect(cuts.safe).toBe(false);
    expect(cuts.safe ? "" : cuts.reason).toContain(reason);
  });

  it("accepts the BERT and byte-level regex pipelines it knows", () => {
    const bert = {
      normalizer: { type: "BertNormalizer", handle_chinese_chars: true },
      pre_tokenizer: { type: "BertPreTokenizer" },
      model: { unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: {} },
    };
    expect(prefixCutsOf(bert)).toEqual({ safe: true, boundaryChars: [" "] });
    const gpt2 = {
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
      model: { type: "BPE", vocab: {}, merges: [] },
    };
    expect(prefixCutsOf(gpt2)).toMatchObject({ safe: true });
  });
});

describe("isCutAt / nextCut", () => {
  it.each([
    ["word word", 4, true],
    ["a, b", 2, true],
    ["e\u0301 b", 2, true],
    ["😀 b", 2, true],
    ["two  spaces", 4, false], // after a space
    ["x\u200b y", 2, false], // after a format character
    ["\u0600 y", 1, false], // after a prepend character: one grapheme with the space
    ["\u0d4e y", 1, false],
    [" \u0301 y", 2, false], // a mark on a space
    ["word\tword", 4, false], // only U+0020
    ["word word", 3, false],
    [" word", 0, false],
  ])("%j at %i: %s", (text, position, expected) => {
    expect(isCutAt(text, position, spaceCuts)).toBe(expected);
  });

  it("never cuts after a character the space itself becomes", () => {
    expect(isCutAt("a▁ b", 2, { safe: true, boundaryChars: ["▁"] })).toBe(false);
    expect(isCutAt("a▁ b", 2, spaceCuts)).toBe(true);
  });

  it("skips to the next allowed place, or finds none", () => {
    expect(nextCut("aaaa bbbbbbbbbb c", 6, spaceCuts)).toBe(15);
    expect(nextCut("aaaa  b", 5, spaceCuts)).toBe(-1);
    expect(nextCut("nowhitespace", 0, spaceCuts)).toBe(-1);
  });
});

/** One token per space-separated word (ids: word lengths), cuttable at spaces; records what it was asked. */
function wordTokenizer(): PieceTokenizer & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    prefixCuts: spaceCuts,
    async encodeWithoutSpecialTokens(texts) {
      calls.push([...texts]);
      return texts.map((text) =>
        text
          .split(" ")
          .filter(Boolean)
          .map((word) => word.length),
      );
    },
    tokenToId: (token) => ({ "[CLS]": 1000, "[SEP]": 1001 })[token],
  };
}

describe("encodeLeading", () => {
  it("tokenizes a short text whole and a long one only up to a cut, with more tokens than asked", async () => {
    const tokenizer = wordTokenizer();
    const long = Array.from({ length: 1000 }, () => "word").join(" ");
    const [short, cut] = await encodeLeading(tokenizer, ["a few words", long], [10, 10]);
    expect(short).toEqual({ ids: [1, 3, 5], whole: true });
    expect(cut!.whole).toBe(false);
    expect(cut!.ids.length).toBeGreaterThan(10);
    expect(cut!.ids.length).toBeLessThan(1000);
    expect(tokenizer.calls).toHaveLength(1);
  });

  it("moves a cut that lands inside a long word to the next space, and grows the prefix until it holds enough", async () => {
    const tokenizer = wordTokenizer();
    // (10 + 1) * 6 = 66 characters land inside the 500-letter word: the cut moves past it.
    const text = `a ${"x".repeat(500)} ${Array.from({ length: 200 }, () => "yy").join(" ")}`;
    const [leading] = await encodeLeading(tokenizer, [text], [10]);
    expect(tokenizer.calls[0]![0]).toBe(`a ${"x".repeat(500)}`);
    expect(leading!.ids.length).toBeGreaterThan(10);
    expect(leading!.ids.slice(0, 3)).toEqual([1, 500, 2]);
    expect(tokenizer.calls.length).toBeGreaterThan(1);
  });

  it("returns more ids than asked, never exactly as many, and the whole text's first ones", async () => {
    for (let wordLength = 1; wordLength <= 12; wordLength++) {
      const text = Array.from({ length: 300 }, (_, index) => "w".repeat(wordLength) + (index % 10)).join(" ");
      const [whole] = await wordTokenizer().encodeWithoutSpecialTokens([text]);
      for (let min = 1; min <= 40; min++) {
        const [leading] = await encodeLeading(wordTokenizer(), [text], [min]);
        expect(leading!.ids.length, `words of ${wordLength + 1}, more than ${min}`).toBeGreaterThan(min);
        expect(leading!.ids).toEqual(whole!.slice(0, leading!.ids.length));
      }
    }
  });

  it("tokenizes a text without any allowed cut whole", async () => {
    const tokenizer = wordTokenizer();
    const text = "x".repeat(10_000);
    expect(await encodeLeading(tokenizer, [text], [5])).toEqual([{ ids: [10_000], whole: true }]);
  });

  it("never cuts for a tokenizer that may not be cut", async () => {
    const tokenizer = { ...wordTokenizer(), prefixCuts: { safe: false, reason: "test" } } as const;
    const text = Array.from({ length: 1000 }, () => "w").join(" ");
    expect((await encodeLeading(tokenizer, [text], [5]))[0]).toMatchObject({ whole: true });
  });
});

describe.each(Object.entries(fixtures))("the %s fixture tokenizer", { timeout: 60_000 }, (_, file) => {
  const tokenizer = loadNativeTokenizer(file);
  const cuts = tokenizer.prefixCuts as PrefixCuts & { safe: true };

  it("gives the whole text's first ids for a prefix cut at every allowed place", async () => {
    let checked = 0;
    for (const [seed, prefix] of ["", "B: ", "document: "].entries()) {
      const text = prefix + adversarialDocument(seed);
      // Every allowed place in the adversarial parts, every third one elsewhere.
      const positions = Array.from(text, (_, index) => index).filter(
        (index) => isCutAt(text, index, cuts) && (index % 3 === 0 || /[^a-z ]/.test(text.slice(index - 3, index + 3))),
      );
      const [whole, ...prefixes] = await tokenizer.encodeWithoutSpecialTokens([text, ...positions.map((p) => text.slice(0, p))]);
      prefixes.forEach((ids, index) => expect(ids, `cut at ${positions[index]}`).toEqual(whole!.slice(0, ids.length)));
      checked += positions.length;
    }
    expect(checked).toBeGreaterThan(300);
  });

  it("would give other ids for cuts inside words (the check above can fail)", async () => {
    const text = adversarialDocument(1);
    const inside = Array.from(text, (_, index) => index)
      .filter((index) => /\w\w/.test(text.slice(index - 1, index + 1)))
      .filter((_, index) => index % 20 === 0);
    const [whole, ...prefixes] = await tokenizer.encodeWithoutSpecialTokens([text, ...inside.map((p) => text.slice(0, p))]);
    const differing = prefixes.filter((ids) => ids.some((id, index) => whole![index] !== id));
    expect(differing.length).toBeGreaterThan(0);
  });
});

/** The rows as plain data, to compare. */
const plain = (rows: EncodedRows) => ({
  ids: Array.from(rows.ids),
  typeIds: rows.typeIds && Array.from(rows.typeIds),
  offsets: Array.from(rows.offsets),
  truncated: Array.from(rows.truncated),
  queryTruncated: rows.queryTruncated,
  tokenCount: rows.tokenCount,
});

describe("PairEncoder rows with and without cutting", { timeout: 60_000 }, () => {
  const families: [string, Omit<TokenizationSpec, "maxLength">][] = [
    ["bert longest_first", { tokenizerFile: fixtures.deberta, family: "bert", truncation: "longest_first" }],
    ["bert only_second", { tokenizerFile: fixtures.deberta, family: "bert", truncation: "only_second" }],
    ["deberta-v2 longest_first", { tokenizerFile: fixtures.deberta, family: "deberta-v2", truncation: "longest_first" }],
    ["deberta-v2 only_second", { tokenizerFile: fixtures.deberta, family: "deberta-v2", truncation: "only_second" }],
    ["bi-encoder", { tokenizerFile: fixtures.deberta, family: "bi-encoder", truncation: "longest_first" }],
    ["xlm-roberta", { tokenizerFile: fixtures.xlmr, family: "xlm-roberta", truncation: "only_second", queryMaxLength: 24 }],
    ["gemma-bge", { tokenizerFile: fixtures.gemma, family: "gemma-bge", truncation: "only_second", queryMaxLength: 24 }],
    ["qwen2-mxbai", { tokenizerFile: fixtures.gemma, family: "qwen2-mxbai", truncation: "only_second", queryMaxLength: 24 }],
  ];
  const cutting = new PairEncoder();
  // The un-cut path: every text tokenized whole, all ids kept.
  const whole = new PairEncoder(loadNativeTokenizer, { cutTexts: false });
  const documents = [...adversarial, adversarialDocument(0), adversarialDocument(1), adversarialDocument(2)];
  const queries = ["short query", adversarial[2]!, adversarialDocument(3).slice(0, 900), adversarialDocument(4)];
  const maxLengths = [33, 128];

  it.each(families)("%s: same ids and truncated flags, short and long queries", async (_, family) => {
    for (const maxLength of maxLengths) {
      const spec = { ...family, maxLength };
      for (const query of queries) {
        const expected = await whole.encodeRows(spec, query, documents).then(plain, (error: Error) => error.message);
        const actual = await cutting.encodeRows(spec, query, documents).then(plain, (error: Error) => error.message);
        expect(actual, `maxLength ${maxLength}, query ${JSON.stringify(query.slice(0, 40))}`).toEqual(expected);
      }
    }
  });

  describe("at the boundaries of the truncation comparisons (one token per word)", () => {
    const words = (count: number, length = 3) =>
      Array.from({ length: count }, (_, index) => "w".repeat(length + (index % 3))).join(" ");
    const encoders = [new PairEncoder(wordTokenizer), new PairEncoder(wordTokenizer, { cutTexts: false })] as const;
    // bert's budget is maxLength - 3: 20 for 23, 21 (odd: one side gets the odd token) for 24.
    const lengths = [0, 1, 10, 19, 20, 21, 22, 23, 40, 41, 200];

    it.each([
      ["bert", "longest_first"],
      ["bert", "only_second"],
      ["bi-encoder", "longest_first"],
    ] as const)(
      "%s %s: documents and queries of every length around the budget, short and long words",
      async (family, truncation) => {
        for (const maxLength of [23, 24]) {
          const spec: TokenizationSpec = { tokenizerFile: "words.json", family, truncation, maxLength };
          for (const wordLength of [1, 4, 12]) {
            const documentsAround = lengths.map((count) => words(count, wordLength));
            for (const queryLength of lengths.slice(1)) {
              const query = words(queryLength, wordLength);
              const [actual, expected] = await Promise.all(
                encoders.map((encoder) =>
                  encoder.encodeRows(spec, query, documentsAround).then(plain, (error: Error) => error.message),
                ),
              );
              expect(actual, `maxLength ${maxLength}, query of ${queryLength} words of ${wordLength}`).toEqual(expected);
            }
          }
        }
      },
    );
  });
});
