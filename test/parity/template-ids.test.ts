/**
 * Every family's ids against the goldens of test/fixtures-build/make_goldens.py: the ids each reference library
 * (CrossEncoder, MxbaiRerankV1 / V2, FlagReranker, FlagLLMReranker, SentenceTransformer) fed its model for the
 * same 64 (query, document) pairs, with its settings. The in-process PairEncoder, the code the pool's workers
 * run, must give exactly those ids and truncated flags; the built pool must give the same batches, its token cache
 * cold and warm. On documents of thousands of tokens, which the encoder tokenizes only a prefix of
 * (src/tokenization/precut.ts), every family must give the ids of its un-cut path, which the goldens tie to the
 * references (the reference libraries themselves are not installed here).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/config/paths.js";
import type { EncodedRows } from "../../src/tokenization/encoded-rows.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { TokenizerPool } from "../../src/tokenization/pool.js";
import { TRUNCATION_STRATEGIES, type Family } from "../../src/catalog/families.js";
import { unpackPairs } from "../../bench/hf-reference.js";
import { joinPassages, nonAsciiSamples, readMsmarco } from "../../bench/test-data.js";
import { GOLDEN_FAMILIES, removeScratch, specOf, type GoldenModel } from "./golden-tokenizers.js";
import { importBuiltPool } from "../support/built-pool.js";

interface GoldenText {
  readonly inputIds: number[];
  readonly truncated: boolean;
  /** bert only. */
  readonly tokenTypeIds?: number[];
}

interface GoldenRequest {
  readonly query: string;
  readonly documents: readonly (GoldenText & { readonly document: string })[];
  /** bi-encoder only: the query encoded alone. */
  readonly queryInputIds?: number[];
  readonly queryTruncated?: boolean;
}

interface Golden extends GoldenModel {
  readonly parity: { readonly pairs: number };
  readonly requests: readonly GoldenRequest[];
}

const root = packageRoot();
const goldenDir = join(root, "test", "parity", "goldens");
const goldens: Golden[] = readdirSync(goldenDir)
  .filter((file) => file.endsWith(".json"))
  .sort()
  .map((file) => JSON.parse(readFileSync(join(goldenDir, file), "utf8")) as Golden);

/** The rows the gateway must return for a golden request (a bi-encoder's query first), golden fields dropped. */
function expectedRows(request: GoldenRequest): GoldenText[] {
  const query: GoldenText[] = request.queryInputIds
    ? [{ inputIds: request.queryInputIds, truncated: request.queryTruncated ?? false }]
    : [];
  return [...query, ...request.documents].map(({ inputIds, truncated, tokenTypeIds }) => ({
    inputIds,
    truncated,
    ...(tokenTypeIds && { tokenTypeIds }),
  }));
}

function actualRows(batch: EncodedRows, expected: readonly GoldenText[]): GoldenText[] {
  return unpackPairs(batch).map((row, index) => ({
    inputIds: row.ids,
    truncated: row.truncated,
    // Goldens record token type ids for bert only.
    ...(expected[index]?.tokenTypeIds && { tokenTypeIds: row.typeIds ?? [] }),
  }));
}

afterAll(removeScratch);

it("finds a golden for every family", () => {
  expect(goldens.map((golden) => golden.family).sort()).toEqual(GOLDEN_FAMILIES);
});

describe.each(goldens.map((golden) => [`${golden.model} (${golden.family})`, golden] as const))("%s", (_, golden) => {
  const encoder = new PairEncoder();

  it(`gives the reference's ids and truncated flags for all ${golden.parity.pairs} pairs`, async () => {
    const spec = specOf(golden);
    let pairs = 0;
    let truncatedRows = 0;
    for (const [index, request] of golden.requests.entries()) {
      const documents = request.documents.map(({ document }) => document);
      const batch = await encoder.encodeRows(spec, request.query, documents);
      const expected = expectedRows(request);
      expect(actualRows(batch, expected), `request ${index} (query ${JSON.stringify(request.query.slice(0, 60))})`).toEqual(
        expected,
      );
      if (request.queryTruncated !== undefined) {
        expect(batch.queryTruncated, `request ${index}`).toBe(request.queryTruncated);
      }
      pairs += documents.length;
      truncatedRows += expected.filter((row) => row.truncated).length;
    }
    expect(pairs).toBe(golden.parity.pairs);
    // Guard against a vacuous pass: the goldens must reach the truncation paths.
    expect(truncatedRows).toBeGreaterThan(0);
  });
});

describe("TokenizerPool (built worker threads)", () => {
  let pool: TokenizerPool | undefined;
  let specs: TokenizationSpec[] = [];

  beforeAll(async () => {
    specs = goldens.map(specOf);
    const TokenizerPool = await importBuiltPool();
    pool = new TokenizerPool(2, { cacheBytes: 64 * 1024 * 1024, chunkLimits: { documents: 5, bytes: 64 * 1024 } });
    await pool.preload(specs);
  });
  afterAll(() => pool?.close());

  it.each(goldens.flatMap((golden, index) => ["cold", "warm"].map((cache) => [golden.model, cache, golden, index] as const)))(
    "%s: returns the in-process encoder's batches, cache %s",
    async (_, __, golden, index) => {
      const spec = specs[index]!;
      const encoder = new PairEncoder();
      const requests = golden.requests.map((request) => ({
        query: request.query,
        documents: request.documents.map((d) => d.document),
      }));
      const fromPool = await Promise.all(requests.map((request) => pool!.encodeRows(spec, request.query, request.documents)));
      for (const [requestIndex, request] of requests.entries()) {
        expect(fromPool[requestIndex]).toEqual(await encoder.encodeRows(spec, request.query, request.documents));
      }
    },
  );
});

describe("long documents: the cutting path gives the un-cut path's ids", () => {
  let requests: { query: string; documents: string[] }[] = [];

  beforeAll(() => {
    const { passages, queries } = readMsmarco();
    const nonAscii = Array.from({ length: 60 }, (_, index) => nonAsciiSamples[index % nonAsciiSamples.length]).join(" ");
    const documents = [
      ...[6_000, 20_000, 60_000].map((chars, index) => joinPassages(passages, 1_000 + index * 97, chars)),
      nonAscii,
      passages[9] ?? "",
    ];
    requests = [
      { query: queries[2] ?? "", documents },
      { query: joinPassages(passages, 2_000, 1_500), documents },
      { query: joinPassages(passages, 2_100, 6_000), documents },
    ];
  });

  const cases = goldens.flatMap((golden) => {
    const strategies = golden.family === "bert" || golden.family === "deberta-v2" ? TRUNCATION_STRATEGIES : [undefined];
    return strategies.map((truncation) => [`${golden.model}${truncation ? ` ${truncation}` : ""}`, golden, truncation] as const);
  });

  it.each(cases)("%s", async (_, golden, truncation) => {
    const spec = { ...specOf(golden), ...(truncation && { truncation }) };
    const cutting = new PairEncoder();
    const whole = new PairEncoder(undefined, { cutTexts: false });
    let rows = 0;
    for (const [index, request] of requests.entries()) {
      const expected = await whole.encodeRows(spec, request.query, request.documents).catch((error: Error) => error.message);
      const actual = await cutting.encodeRows(spec, request.query, request.documents).catch((error: Error) => error.message);
      expect(actual, `request ${index}`).toEqual(expected);
      rows += typeof expected === "string" ? 0 : expected.truncated.length;
    }
    expect(rows).toBeGreaterThan(0);
  });
});
