/**
 * long_documents=split_max in the tokenization stage: the window arithmetic (windows.ts), the query a window is
 * sized beside (truncation.ts), and a request's split rows (split-rows.ts) with a bert template and a fake round trip.
 */
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { splitRows, type SplitLayout } from "../../src/tokenization/split-rows.js";
import { resolveTemplate } from "../../src/tokenization/templates.js";
import { queryBesideWindows, truncatePairLengths, type TokenIds } from "../../src/tokenization/truncation.js";
import { nextWindowStart, overlapTokens, windowSpans } from "../../src/tokenization/windows.js";
import { bertSpecialTokens, CLS, SEP } from "./special-tokens.js";

const range = (from: number, count: number) => Array.from({ length: count }, (_, index) => from + index);

describe("windowSpans", () => {
  it("cuts a document into windows of the window length, each starting the overlap before the last one's end", () => {
    expect(windowSpans(10, 4, 1)).toEqual([
      { start: 0, end: 4 },
      { start: 3, end: 7 },
      { start: 6, end: 10 },
    ]);
    // The last window ends at the document's end, however short that leaves it.
    expect(windowSpans(11, 4, 1).at(-1)).toEqual({ start: 9, end: 11 });
  });

  it("gives a document no longer than a window (or empty) one window of all of it", () => {
    expect(windowSpans(4, 4, 1)).toEqual([{ start: 0, end: 4 }]);
    expect(windowSpans(0, 4, 1)).toEqual([{ start: 0, end: 0 }]);
  });

  it.each([
    [1_000, 254, 63],
    [5_000, 117, 29],
    [777, 500, 0],
    [300, 10, 5],
  ])(
    "covers every id of %i in windows of %i sharing %i: 1 + ceil((n - w) / (w - overlap)) of them",
    (length, windowTokens, overlap) => {
      const spans = windowSpans(length, windowTokens, overlap);
      expect(spans).toHaveLength(1 + Math.ceil((length - windowTokens) / (windowTokens - overlap)));
      expect(spans[0]!.start).toBe(0);
      expect(spans.at(-1)!.end).toBe(length);
      spans.forEach((span, index) => {
        expect(span.end - span.start).toBeLessThanOrEqual(windowTokens);
        if (index > 0) expect(spans[index - 1]!.end - span.start).toBe(overlap);
      });
    },
  );

  it("moves on at least one id even when the overlap is the whole window", () => {
    expect(nextWindowStart({ start: 5, end: 8 }, 3)).toBe(6);
    expect(windowSpans(5, 2, 2).map((span) => span.start)).toEqual([0, 1, 2, 3]);
  });

  it("rounds the overlap down to whole tokens and refuses an empty window", () => {
    expect(overlapTokens(254, 0.25)).toBe(63);
    expect(overlapTokens(3, 0.25)).toBe(0);
    expect(() => windowSpans(10, 0, 0)).toThrow(RangeError);
  });
});

describe("queryBesideWindows", () => {
  it("longest_first keeps at most half the budget (rounded up) of the query, only_second all of it", () => {
    expect(queryBesideWindows(40, 509, "longest_first")).toBe(40);
    expect(queryBesideWindows(400, 509, "longest_first")).toBe(255);
    expect(queryBesideWindows(400, 509, "only_second")).toBe(400);
  });

  it("is what HF's pair truncation keeps of the query beside a window of the rest, which it keeps whole", () => {
    for (const budget of [7, 8, 509, 510]) {
      for (let query = 0; query <= budget + 3; query++) {
        const kept = queryBesideWindows(query, budget, "longest_first");
        const window = budget - kept;
        expect(truncatePairLengths({ query, document: window }, budget, "longest_first")).toMatchObject({
          query: kept,
          document: window,
        });
      }
    }
  });

  it("only_second: a query that leaves a window no token is the request's fault, as in pairing", () => {
    expect(() => queryBesideWindows(509, 509, "only_second")).toThrow(GatewayError);
  });
});

describe("splitRows", async () => {
  const bert = await resolveTemplate("bert", bertSpecialTokens);
  /** maxLength 13: 10 query + document tokens; overlap a quarter of a window. */
  const layout: SplitLayout = {
    template: bert,
    maxLength: 13,
    truncation: "longest_first",
    budget: 10,
    documentCap: Infinity,
    overlap: 0.25,
  };
  const unbounded = { maxTokensPerDocument: 0, maxWindows: 1_000 };
  const query = { ids: [1, 2], cut: false };
  /** Row i's ids without [CLS] q [SEP] and the final [SEP]. */
  const windowsOf = (rows: Awaited<ReturnType<typeof splitRows>>, queryLength: number) =>
    Array.from(rows.truncated, (_, row) =>
      Array.from(rows.ids.subarray(rows.offsets[row]! + queryLength + 2, rows.offsets[row + 1]! - 1)),
    );

  it("pairs each window with the whole query; a document that fits is one row, as without splitting", async () => {
    const rows = await splitRows(layout, query, [range(20, 20), range(50, 3)], unbounded);
    // Windows of 8 (10 less the query), sharing 2: [20, 28), [26, 34), [32, 40); then the short document whole.
    expect(Array.from(rows.windows!)).toEqual([3, 1]);
    expect(windowsOf(rows, 2)).toEqual([range(20, 8), range(26, 8), range(32, 8), range(50, 3)]);
    expect(Array.from(rows.ids.subarray(0, 3))).toEqual([CLS, 1, 2]);
    expect(Array.from(rows.truncated)).toEqual([0, 0, 0, 0]);
    expect(rows.queryTruncated).toBe(false);
  });

  it("keeps maxTokensPerDocument ids of a document and marks all its rows truncated", async () => {
    const rows = await splitRows(layout, query, [range(20, 20), range(50, 3)], { ...unbounded, maxTokensPerDocument: 12 });
    expect(windowsOf(rows, 2)).toEqual([range(20, 8), range(26, 6), range(50, 3)]);
    expect(Array.from(rows.truncated)).toEqual([1, 1, 0]);
  });

  it("longest_first: windows of half the budget beside a long query, which pairing cuts as HF does", async () => {
    const longQuery = { ids: range(1, 8), cut: false };
    const rows = await splitRows(layout, longQuery, [range(20, 12), [50]], unbounded);
    const row = (index: number) => Array.from(rows.ids.subarray(rows.offsets[index], rows.offsets[index + 1]));
    expect(Array.from(rows.windows!)).toEqual([3, 1]);
    // The query keeps 5 of 10 beside a window of 5, 6 beside the last window's 4 (HF's longest_first); a one-token
    // document fits beside all 8 query tokens.
    expect(row(0)).toEqual([CLS, ...range(1, 5), SEP, ...range(20, 5), SEP]);
    expect(row(1)).toEqual([CLS, ...range(1, 5), SEP, ...range(24, 5), SEP]);
    expect(row(2)).toEqual([CLS, ...range(1, 6), SEP, ...range(28, 4), SEP]);
    expect(row(3)).toEqual([CLS, ...range(1, 8), SEP, 50, SEP]);
    expect(Array.from(rows.truncated)).toEqual([1, 1, 1, 0]);
    expect(rows.queryTruncated).toBe(true);
  });

  it("a bi-encoder's query is its own row; each window is a whole text", async () => {
    const biEncoder = await resolveTemplate("bi-encoder", bertSpecialTokens);
    const texts = { ...layout, template: biEncoder, maxLength: 12 };
    const rows = await splitRows(texts, query, [range(20, 12)], unbounded);
    expect(Array.from(rows.windows!)).toEqual([2]);
    // [CLS] q [SEP], then windows of 10 sharing 2: [20, 30) and [28, 32).
    expect(Array.from(rows.offsets)).toEqual([0, 4, 16, 22]);
  });

  it("refuses more windows than maxWindows, counting every document", async () => {
    const error = await splitRows(layout, query, [range(0, 20), range(0, 20)], { ...unbounded, maxWindows: 5 }).catch(
      (caught: unknown) => caught as GatewayError,
    );
    expect(error).toMatchObject({ kind: "invalid" });
    expect((error as GatewayError).message).toMatch(/at least 6 windows, over the limit of 5 per request/);
  });

  it("a window whose round trip outgrows its room takes fewer ids, and the next starts the overlap before its end", async () => {
    // Every window gains an id in the round trip (as one starting inside a word gains a word-start piece).
    const roundTrips: number[] = [];
    const roundTrip = async (parts: readonly TokenIds[]) => {
      roundTrips.push(parts.length);
      return parts.map((ids) => [0, ...ids]);
    };
    const documents = [range(100, 30), range(200, 12)];
    const rows = await splitRows({ ...layout, roundTrip }, query, documents, unbounded);
    const windows = windowsOf(rows, 2);
    expect(Array.from(rows.truncated).every((flag) => flag === 0)).toBe(true);
    expect(windows.every((ids) => ids.length <= 8)).toBe(true);
    // Every id of each document is in some window (the 0s are what the round trip added).
    const [first, second] = [windows.slice(0, rows.windows![0]), windows.slice(rows.windows![0])];
    expect(new Set(first.flat().filter((id) => id !== 0))).toEqual(new Set(documents[0]));
    expect(new Set(second.flat().filter((id) => id !== 0))).toEqual(new Set(documents[1]));
    // Windows of 7 ids 5 apart: 6 of them, where the 8-id windows of a document without a round trip are 5.
    expect(rows.windows![0]).toBe(6);
    expect(windowSpans(30, 8, 2)).toHaveLength(5);
    // Both documents' windows go through each round trip together, while both have windows left.
    expect(roundTrips[0]).toBe(2);
  });
});
