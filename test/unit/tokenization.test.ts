import { describe, expect, it, vi } from "vitest";
import { assemblePairs, transferables } from "../../src/tokenization/encoded-rows.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { PieceTokenizer } from "../../src/tokenization/tokenizer.js";
import { TokenizerPool } from "../../src/tokenization/pool.js";
import { resolveTemplate, type ResolvedTemplate } from "../../src/tokenization/templates.js";
import { GatewayError } from "../../src/errors.js";
import { truncatePairLengths, type PartIds } from "../../src/tokenization/truncation.js";
import { bertSpecialTokens, bertVocabulary, CLS, SEP } from "./special-tokens.js";

const bert = await resolveTemplate("bert", bertSpecialTokens);
const range = (from: number, count: number) => Array.from({ length: count }, (_, index) => from + index);
/** Ids that no cap has cut. */
const part = (ids: number[]): PartIds => ({ ids, cut: false });

describe("truncatePairLengths", () => {
  // The table of tokenizers/src/utils/truncation.rs `truncate_encodings_longest_first` (max_length 7):
  // [first length, second length, first kept, second kept].
  it.each([
    [0, 0, 0, 0],
    [0, 2, 0, 2],
    [0, 4, 0, 4],
    [0, 8, 0, 7],
    [2, 0, 2, 0],
    [2, 2, 2, 2],
    [2, 4, 2, 4],
    [2, 8, 2, 5],
    [4, 0, 4, 0],
    [4, 2, 4, 2],
    [4, 4, 3, 4],
    [4, 8, 3, 4],
    [8, 0, 7, 0],
    [8, 2, 5, 2],
    [8, 4, 4, 3],
    [8, 8, 3, 4],
  ])("longest_first %i + %i in 7 keeps %i + %i, as HF", (query, document, keptQuery, keptDocument) => {
    expect(truncatePairLengths({ query, document }, 7, "longest_first")).toEqual({
      query: keptQuery,
      document: keptDocument,
      truncated: query + document > 7,
    });
  });

  it("longest_first: inputs each over the budget share it, the longer one getting the odd token", () => {
    expect(truncatePairLengths({ query: 40, document: 30 }, 11, "longest_first")).toEqual({
      query: 6,
      document: 5,
      truncated: true,
    });
  });

  it("only_second cuts the document only", () => {
    expect(truncatePairLengths({ query: 4, document: 10 }, 7, "only_second")).toEqual({
      query: 4,
      document: 3,
      truncated: true,
    });
    expect(truncatePairLengths({ query: 4, document: 3 }, 7, "only_second")).toEqual({
      query: 4,
      document: 3,
      truncated: false,
    });
  });

  it("only_second: a query that leaves no document token is an error, like HF", () => {
    expect(() => truncatePairLengths({ query: 7, document: 1 }, 7, "only_second")).toThrow(GatewayError);
    expect(() => truncatePairLengths({ query: 9, document: 0 }, 7, "only_second")).toThrow(
      expect.objectContaining({ kind: "invalid", message: expect.stringContaining("query has 9 tokens") }),
    );
    // HF truncates nothing when the pair fits, even with an empty document.
    expect(truncatePairLengths({ query: 7, document: 0 }, 7, "only_second").truncated).toBe(false);
  });

  it("rejects a budget without room for content", () => {
    expect(() => truncatePairLengths({ query: 1, document: 1 }, 0, "longest_first")).toThrow(RangeError);
  });
});

describe("resolveTemplate", () => {
  it("counts the special tokens the bert template adds, all inside truncation", () => {
    expect(bert.fixedTokenCount).toBe(3);
    expect(bert.budgetOverhead).toBe(3);
    expect(bert.usesTokenTypeIds).toBe(true);
  });

  it("names a special token the tokenizer lacks", async () => {
    await expect(resolveTemplate("bert", { ...bertSpecialTokens, tokenToId: () => undefined })).rejects.toThrow("[CLS]");
  });
});

describe("assemblePairs", () => {
  it("lays out [CLS] query [SEP] document [SEP] with type ids 0 then 1", () => {
    const batch = assemblePairs(bert, part([1, 2]), [part([10, 11, 12]), part([])], 512, "longest_first");
    expect(Array.from(batch.ids)).toEqual([CLS, 1, 2, SEP, 10, 11, 12, SEP, CLS, 1, 2, SEP, SEP]);
    expect(Array.from(batch.typeIds!)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1]);
    expect(Array.from(batch.offsets)).toEqual([0, 8, 13]);
    expect(Array.from(batch.truncated)).toEqual([0, 0]);
    expect(batch.tokenCount).toBe(13);
    expect(batch.queryTruncated).toBe(false);
  });

  it("truncates each pair to maxLength, special tokens included, and flags it", () => {
    const batch = assemblePairs(bert, part(range(1, 4)), [part(range(10, 20)), part(range(40, 2))], 10, "longest_first");
    expect(Array.from(batch.ids.subarray(0, 10))).toEqual([CLS, 1, 2, 3, SEP, 10, 11, 12, 13, SEP]);
    expect(Array.from(batch.ids.subarray(10))).toEqual([CLS, 1, 2, 3, 4, SEP, 40, 41, SEP]);
    expect(Array.from(batch.truncated)).toEqual([1, 0]);
    // longest_first cut the query in the first pair.
    expect(batch.queryTruncated).toBe(true);
  });

  it("flags a row and the query that a family cap already cut", () => {
    const batch = assemblePairs(bert, { ids: [1], cut: true }, [part([2]), { ids: [3], cut: true }], 8, "only_second");
    expect(Array.from(batch.truncated)).toEqual([1, 1]);
    expect(batch.queryTruncated).toBe(true);
    const documentCut = assemblePairs(bert, part([1]), [part([2]), { ids: [3], cut: true }], 8, "only_second");
    expect(Array.from(documentCut.truncated)).toEqual([0, 1]);
    expect(documentCut.queryTruncated).toBe(false);
  });

  it("leaves typeIds null for a template without them", () => {
    const withoutTypeIds: ResolvedTemplate = { ...bert, usesTokenTypeIds: false };
    const batch = assemblePairs(withoutTypeIds, part([1]), [part([2])], 8, "only_second");
    expect(batch.typeIds).toBeNull();
    expect(Array.from(batch.ids)).toEqual([CLS, 1, SEP, 2, SEP]);
  });

  it("handles a request without documents", () => {
    const batch = assemblePairs(bert, part([1]), [], 8, "longest_first");
    expect(Array.from(batch.offsets)).toEqual([0]);
    expect(batch.tokenCount).toBe(0);
  });

  it("rejects a maxLength the special tokens alone fill", () => {
    expect(() => assemblePairs(bert, part([1]), [part([2])], 3, "longest_first")).toThrow("counts 3 fixed tokens");
  });

  it("lists every buffer for transfer", () => {
    const batch = assemblePairs(bert, part([1]), [part([2])], 8, "longest_first");
    expect(transferables(batch)).toEqual([batch.ids.buffer, batch.typeIds!.buffer, batch.offsets.buffer, batch.truncated.buffer]);
  });
});

describe("PairEncoder", () => {
  /** A tokenizer whose ids are char codes: enough to see what the encoder asks of the library. */
  function fakeTokenizer(): PieceTokenizer & { calls: string[][] } {
    const calls: string[][] = [];
    return {
      calls,
      async encodeWithoutSpecialTokens(texts) {
        calls.push([...texts]);
        return texts.map((text) => Array.from(text, (char) => char.charCodeAt(0)));
      },
      tokenToId: (token) => bertVocabulary.get(token),
    };
  }
  const spec: TokenizationSpec = { tokenizerFile: "bert.json", family: "bert", maxLength: 8, truncation: "only_second" };

  it("tokenizes the query whole, then the documents, and loads each tokenizer file once", async () => {
    const tokenizer = fakeTokenizer();
    const load = vi.fn(() => tokenizer);
    const encoder = new PairEncoder(load);
    const batch = await encoder.encodeRows(spec, "q", ["ab", "cdefgh"]);
    await encoder.encodeRows(spec, "r", ["s"]);
    expect(load).toHaveBeenCalledTimes(1);
    // bert pairs compare the query's length with the document's (HF longest_first), so the query comes first.
    expect(tokenizer.calls).toEqual([["q"], ["ab", "cdefgh"], ["r"], ["s"]]);
    const [q, a, b, c, d, e, f] = Array.from("qabcdef", (char) => char.charCodeAt(0));
    expect(Array.from(batch.ids)).toEqual([CLS, q, SEP, a, b, SEP, CLS, q, SEP, c, d, e, f, SEP]);
    expect(Array.from(batch.truncated)).toEqual([0, 1]);
  });

  it("names the tokenizer file it cannot load", async () => {
    const encoder = new PairEncoder(() => {
      throw new Error("No such file");
    });
    await expect(encoder.encodeRows(spec, "q", ["d"])).rejects.toThrow("cannot load tokenizer bert.json: No such file");
  });

  it("prepare checks the template and maxLength without encoding", async () => {
    const tokenizer = fakeTokenizer();
    const encoder = new PairEncoder(() => tokenizer);
    await expect(encoder.prepare(spec)).resolves.toBeUndefined();
    await expect(encoder.prepare({ ...spec, maxLength: 3 })).rejects.toThrow(RangeError);
    await expect(encoder.prepare({ ...spec, family: "gpt" as "bert" })).rejects.toThrow("unknown family 'gpt'");
    // bert has no fixed text to tokenize, and prepare encodes no pair.
    expect(tokenizer.calls).toEqual([]);
  });
});

describe("TokenizerPool", () => {
  const spec: TokenizationSpec = { tokenizerFile: "bert.json", family: "bert", maxLength: 8, truncation: "only_second" };

  it("fails requests, rather than hanging or restarting in a loop, when its worker cannot start", async () => {
    // Run from src/, the pool finds no compiled worker.js beside it: what a broken build looks like.
    const pool = new TokenizerPool(1);
    await expect(pool.encodeRows(spec, "q", ["d"])).rejects.toThrow(/tokenizer worker stopped: .*worker\.js/);
    await expect(pool.preload([spec])).rejects.toThrow("tokenizer worker stopped");
    await pool.close();
    await expect(pool.encodeRows(spec, "q", ["d"])).rejects.toThrow("tokenizer pool closed");
  });

  it("needs at least one thread", () => {
    expect(() => new TokenizerPool(0)).toThrow(RangeError);
  });
});
