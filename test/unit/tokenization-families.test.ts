/**
 * The family layouts beyond bert, with a tokenizer whose ids are code points: a row decodes back to the text
 * the family's reference feeds its model, so each assertion reads as that text. Exact ids against the reference
 * libraries are test/parity/template-ids.test.ts's job.
 */
import { describe, expect, it } from "vitest";
import type { EncodedRows } from "../../src/tokenization/encoded-rows.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { PieceTokenizer } from "../../src/tokenization/tokenizer.js";
import { resolveTemplate } from "../../src/tokenization/templates.js";

// The fixed texts as the references hardcode them: mxbai_rerank_v2.py and FlagEmbedding decoder_only/base.py.
const qwenPrefix =
  "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n";
const mxbaiTask =
  "You are a search relevance expert who evaluates how well documents match search queries. For each query-document " +
  "pair, carefully analyze the semantic relationship between them, then provide your binary relevance judgment " +
  "(0 for not relevant, 1 for relevant).\nRelevance:";
const qwenSuffix = "<|im_end|>\n<|im_start|>assistant\n";
const gemmaPrompt =
  "Given a query A and a passage B, determine whether the passage contains an answer to the query by providing a " +
  "prediction of either 'Yes' or 'No'.";

/** Ids above Unicode's code points stand for special tokens. */
const specialTokens = ["[CLS]", "[SEP]", "<s>", "</s>", "<bos>", "<unk>"];
const firstSpecialId = 0x110000;

/**
 * Code points as ids, non-ASCII characters as <unk> (like a small vocabulary); decoding writes special tokens
 * out, so a decoded <unk> encodes again as five characters: a round trip that changes ids, as XLM-R's does.
 */
function codePointTokenizer(): PieceTokenizer & { encoded: string[][]; decoded: number[][][] } {
  const encoded: string[][] = [];
  const decoded: number[][][] = [];
  const unk = firstSpecialId + specialTokens.indexOf("<unk>");
  return {
    encoded,
    decoded,
    async encodeWithoutSpecialTokens(texts) {
      encoded.push([...texts]);
      return texts.map((text) => Array.from(text, (char) => (char.codePointAt(0)! < 0x80 ? char.codePointAt(0)! : unk)));
    },
    async decodeKeepingSpecialTokens(ids) {
      decoded.push(ids.map((sequence) => [...sequence]));
      return ids.map((sequence) => sequence.map(textOf).join(""));
    },
    tokenToId: (token) => (specialTokens.includes(token) ? firstSpecialId + specialTokens.indexOf(token) : undefined),
  };
}

function textOf(id: number): string {
  return id >= firstSpecialId ? (specialTokens[id - firstSpecialId] ?? "?") : String.fromCodePoint(id);
}

/** Each row of a batch as text. */
function rowTexts(batch: EncodedRows): string[] {
  return Array.from(batch.truncated, (_, row) =>
    Array.from(batch.ids.subarray(batch.offsets[row], batch.offsets[row + 1]), textOf).join(""),
  );
}

const letters = "abcdefghijklmnopqrstuvwxyz";

async function encode(spec: Omit<TokenizationSpec, "tokenizerFile">, query: string, documents: readonly string[]) {
  return new PairEncoder(codePointTokenizer).encodeRows({ ...spec, tokenizerFile: "fake.json" }, query, documents);
}

describe("qwen2-mxbai", () => {
  const spec = { family: "qwen2-mxbai", maxLength: 20, truncation: "only_second", queryMaxLength: 15 } as const;

  it("wraps query: Q, then \\n + document: D, in the chat template and task prompt, which maxLength does not count", async () => {
    const batch = await encode(spec, "q", ["d"]);
    expect(rowTexts(batch)).toEqual([`${qwenPrefix}query: q\ndocument: d\n${mxbaiTask}${qwenSuffix}`]);
    expect(batch.typeIds).toBeNull();
    expect(Array.from(batch.truncated)).toEqual([0]);
    expect(batch.queryTruncated).toBe(false);
  });

  it("cuts the query to queryMaxLength, then \\n + D only_second to maxLength", async () => {
    // "query: " + 10 letters = 17 tokens, cut to 15; 20 - 15 leaves 5 for "\n" + D.
    const batch = await encode(spec, letters.slice(0, 10), [letters]);
    expect(rowTexts(batch)).toEqual([`${qwenPrefix}query: abcdefgh\ndocu\n${mxbaiTask}${qwenSuffix}`]);
    expect(Array.from(batch.truncated)).toEqual([1]);
    expect(batch.queryTruncated).toBe(true);
  });
});

describe("gemma-bge", () => {
  const spec = { family: "gemma-bge", maxLength: 12, truncation: "only_second", queryMaxLength: 8 } as const;

  it("lays out <bos> A: Q, \\n B: D, \\n prompt, the query cut to queryMaxLength and documents to maxLength", async () => {
    const batch = await encode(spec, "whatever", ["short", letters]);
    expect(rowTexts(batch)).toEqual([`<bos>A: whate\nB: short\n${gemmaPrompt}`, `<bos>A: whate\nB: abcdefghi\n${gemmaPrompt}`]);
    expect(Array.from(batch.truncated)).toEqual([1, 1]);
    expect(batch.queryTruncated).toBe(true);
  });

  it("truncates [bos] + Q and \\n + D only_second to maxLength + |\\n| + |prompt| (encode_max_length)", async () => {
    const query = "x".repeat(gemmaPrompt.length + 2);
    const batch = await encode({ ...spec, maxLength: 10, queryMaxLength: gemmaPrompt.length + 5 }, query, ["y".repeat(50)]);
    // [bos] + "A: " + query takes |prompt| + 6 of the 10 + 1 + |prompt|: 5 are left for "\nB: y".
    expect(rowTexts(batch)).toEqual([`<bos>A: ${query}\nB: y\n${gemmaPrompt}`]);
    expect(batch.queryTruncated).toBe(false);
  });
});

describe("xlm-roberta", () => {
  const spec = { family: "xlm-roberta", maxLength: 20, truncation: "only_second", queryMaxLength: 5 } as const;
  const unk = firstSpecialId + specialTokens.indexOf("<unk>");

  it("decodes the capped query and documents, encodes that text again, then pairs <s> Q </s></s> D </s>", async () => {
    const tokenizer = codePointTokenizer();
    const batch = await new PairEncoder(() => tokenizer).encodeRows({ ...spec, tokenizerFile: "fake.json" }, "éa-long", [
      "bé",
      letters,
    ]);
    const [a, hyphen, l, o] = Array.from("a-lo", (char) => char.codePointAt(0)!);
    expect(tokenizer.decoded).toEqual([
      [[unk, a, hyphen, l, o], [98, unk], Array.from(letters.slice(0, 20), (char) => char.codePointAt(0)!)],
    ]);
    expect(tokenizer.encoded.at(-1)).toEqual(["<unk>a-lo", "b<unk>", letters.slice(0, 20)]);
    // The re-encoded query has 9 ids: 20 - 4 - 9 leaves the second document 7.
    expect(rowTexts(batch)).toEqual(["<s><unk>a-lo</s></s>b<unk></s>", "<s><unk>a-lo</s></s>abcdefg</s>"]);
    expect(Array.from(batch.offsets)).toEqual([0, 19, 39]);
    expect(Array.from(batch.truncated)).toEqual([1, 1]);
  });
});

describe("bi-encoder", () => {
  const spec = { family: "bi-encoder", maxLength: 6, truncation: "longest_first" } as const;

  it("returns the query alone as row 0, then each document alone: [CLS] text [SEP] cut to maxLength", async () => {
    const batch = await encode(spec, "query", ["doc", "document"]);
    expect(rowTexts(batch)).toEqual(["[CLS]quer[SEP]", "[CLS]doc[SEP]", "[CLS]docu[SEP]"]);
    expect(Array.from(batch.truncated)).toEqual([1, 0, 1]);
    expect(batch.queryTruncated).toBe(true);
    expect(Array.from(batch.typeIds!)).toEqual(new Array(batch.tokenCount).fill(0));
  });

  it("flags the query only when its own row lost tokens", async () => {
    const batch = await encode(spec, "q", ["a long document"]);
    expect(Array.from(batch.truncated)).toEqual([0, 1]);
    expect(batch.queryTruncated).toBe(false);
  });
});

describe("PairEncoder with family templates", () => {
  it("tokenizes a family's fixed texts once per tokenizer, and each request's texts in one call", async () => {
    const tokenizer = codePointTokenizer();
    const encoder = new PairEncoder(() => tokenizer);
    const spec: TokenizationSpec = {
      tokenizerFile: "fake.json",
      family: "gemma-bge",
      maxLength: 12,
      truncation: "only_second",
      queryMaxLength: 8,
    };
    await encoder.prepare(spec);
    await encoder.encodeRows(spec, "q", ["d", "e"]);
    await encoder.encodeRows(spec, "r", ["f"]);
    expect(tokenizer.encoded).toEqual([
      ["\n", "\n", gemmaPrompt],
      ["A: q", "B: d", "B: e"],
      ["A: r", "B: f"],
    ]);
  });

  it.each([
    [
      { family: "xlm-roberta", truncation: "only_second" },
      "queryMaxLength must be an integer from 1 to 15 with maxLength 20, got undefined",
    ],
    [{ family: "xlm-roberta", truncation: "only_second", queryMaxLength: 16 }, "from 1 to 15 with maxLength 20, got 16"],
    [
      { family: "gemma-bge", truncation: "longest_first", queryMaxLength: 8 },
      "truncates only_second, like its reference, not longest_first",
    ],
    [{ family: "bi-encoder", truncation: "only_second" }, "truncates longest_first"],
    [{ family: "bert", truncation: "longest_first", queryMaxLength: 8 }, "does not cap the query"],
  ] as const)("prepare rejects %o: %s", async (fields, message) => {
    const encoder = new PairEncoder(codePointTokenizer);
    await expect(encoder.prepare({ tokenizerFile: "fake.json", maxLength: 20, ...fields })).rejects.toThrow(message);
  });

  it("names a family's special token the tokenizer lacks", async () => {
    await expect(resolveTemplate("gemma-bge", { ...codePointTokenizer(), tokenToId: () => undefined })).rejects.toThrow(
      "template 'gemma-bge' needs special token <bos>",
    );
  });
});
