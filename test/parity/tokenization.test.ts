/**
 * The gateway's pair encodings against Hugging Face's Python `tokenizers` (run live by hf_reference.py):
 * ids, token type ids and the truncated flag, for both truncation strategies and for maximum lengths
 * small enough that msmarco passages, long queries and long documents all get cut. The gateway tokenizes only
 * a prefix of a long document (src/tokenization/precut.ts); the reference always tokenizes all of it. The built
 * pool must give the same rows with its token cache cold and warm.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/config/paths.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { TokenizerPool } from "../../src/tokenization/pool.js";
import { TRUNCATION_STRATEGIES } from "../../src/catalog/families.js";
import { hfReference, unpackPairs, type PairRequest } from "../../bench/hf-reference.js";
import { bertTokenizerFile, joinPassages, miniLmTokenizerFile, nonAsciiSamples, readMsmarco } from "../../bench/test-data.js";
import { importBuiltPool } from "../support/built-pool.js";

const maxLengths = [32, 128, 512];
const passagesPerQuery = 20;

let requests: PairRequest[];
/** Documents of thousands of tokens (up to ~25,000), with short, budget-sized and longer-than-budget queries. */
let longRequests: PairRequest[];

beforeAll(() => {
  const { passages, queries } = readMsmarco();
  const longDocuments = [8_000, 30_000, 120_000].map((chars, index) => joinPassages(passages, index * 301, chars));
  const nonAsciiDocument = Array.from({ length: 40 }, (_, index) => nonAsciiSamples[index % nonAsciiSamples.length]).join(" ");
  longRequests = [
    { query: queries[1] ?? "", documents: [...longDocuments, nonAsciiDocument, passages[5] ?? ""] },
    // ~130, ~510 and ~1,300 tokens: beside, at and over the 512 budget, so longest_first cuts both sides.
    ...[600, 2_300, 6_000].map((chars, index) => ({
      query: joinPassages(passages, 4_000 + index, chars),
      documents: [...longDocuments, nonAsciiDocument],
    })),
  ];
  const byLength = [...passages].sort((a, b) => b.length - a.length);
  const longQuery = byLength.slice(0, 3).join(" ");
  const longDocument = byLength.slice(3, 8).join(" ");
  requests = [
    // 50 queries x 20 passages: the first 1000 passages of the corpus.
    ...queries.map((query, index) => ({
      query,
      documents: passages.slice(index * passagesPerQuery, (index + 1) * passagesPerQuery),
    })),
    { query: queries[0] ?? "", documents: [longDocument, ...passages.slice(0, 3)] },
    { query: longQuery, documents: [passages[0] ?? "", longDocument, ""] },
    ...nonAsciiSamples.map((query) => ({ query, documents: nonAsciiSamples })),
  ];
});

const specFor = (maxLength: number, truncation: TokenizationSpec["truncation"]): TokenizationSpec => ({
  tokenizerFile: bertTokenizerFile,
  family: "bert",
  maxLength,
  truncation,
});

describe.each(TRUNCATION_STRATEGIES)("bert pairs, truncation %s", (truncation) => {
  const encoder = new PairEncoder();

  it.each(maxLengths)("maxLength %i: same ids, type ids and truncated flags as Python tokenizers", async (maxLength) => {
    const spec = specFor(maxLength, truncation);
    const reference = hfReference(spec, requests);
    let truncatedPairs = 0;
    let rejectedRequests = 0;
    for (const [index, request] of requests.entries()) {
      const expected = reference.requests[index] ?? [];
      const encoding = encoder.encodeRows(spec, request.query, request.documents);
      // HF raises for an only_second pair whose query leaves no room; the gateway rejects that request.
      if (expected.some((pair) => "error" in pair)) {
        await expect(encoding, `request ${index}`).rejects.toMatchObject({
          kind: "invalid",
          message: expect.stringContaining("leaving no room for the document"),
        });
        rejectedRequests += 1;
        continue;
      }
      const pairs = unpackPairs(await encoding);
      expect(pairs, `request ${index} (query ${JSON.stringify(request.query.slice(0, 60))})`).toEqual(expected);
      truncatedPairs += pairs.filter((pair) => pair.truncated).length;
    }
    // Guard against a vacuous pass: the inputs must reach the truncation paths under test.
    expect(truncatedPairs).toBeGreaterThan(0);
    expect(rejectedRequests > 0).toBe(truncation === "only_second");
  });
});

describe.each(TRUNCATION_STRATEGIES)("bert pairs of long documents, truncation %s", (truncation) => {
  it.each([128, 512])(
    "maxLength %i: the reference's ids though only a prefix of each document is tokenized",
    async (maxLength) => {
      const spec = specFor(maxLength, truncation);
      const reference = hfReference(spec, longRequests);
      const encoder = new PairEncoder();
      let compared = 0;
      for (const [index, request] of longRequests.entries()) {
        const expected = reference.requests[index] ?? [];
        const encoding = encoder.encodeRows(spec, request.query, request.documents);
        if (expected.some((pair) => "error" in pair)) {
          await expect(encoding, `request ${index}`).rejects.toMatchObject({ kind: "invalid" });
          continue;
        }
        expect(unpackPairs(await encoding), `request ${index}`).toEqual(expected);
        compared += expected.length;
      }
      // longest_first pairs every document; only_second rejects the requests whose query fills the budget.
      expect(compared).toBeGreaterThanOrEqual(truncation === "longest_first" ? 17 : 5);
    },
  );
});

it("ignores the truncation and padding a tokenizer.json sets (all-minilm-l6-v2: 256, padded)", async () => {
  const spec = { ...specFor(512, "longest_first"), tokenizerFile: miniLmTokenizerFile };
  const longRequests = requests.filter((request) => request.documents.some((document) => document.length > 2000));
  const reference = hfReference(spec, longRequests);
  const encoder = new PairEncoder();
  for (const [index, request] of longRequests.entries()) {
    const batch = await encoder.encodeRows(spec, request.query, request.documents);
    expect(unpackPairs(batch)).toEqual(reference.requests[index]);
    expect(Math.max(...unpackPairs(batch).map((pair) => pair.ids.length))).toBe(512);
  }
});

describe("TokenizerPool (built worker threads)", () => {
  const spec = specFor(128, "only_second");
  let pool: TokenizerPool | undefined;

  beforeAll(async () => {
    const TokenizerPool = await importBuiltPool();
    // Small chunks, so that requests span several threads' chunks.
    pool = new TokenizerPool(2, { cacheBytes: 64 * 1024 * 1024, chunkLimits: { documents: 3, bytes: 64 * 1024 } });
    await pool.preload([spec]);
  });
  afterAll(() => pool?.close());

  it.each(["cold", "warm"])("returns the in-process encoder’s batches, for concurrent requests, cache %s", async () => {
    const sample = [...requests.slice(0, 10), longRequests[0]!];
    const fromPool = await Promise.all(sample.map((request) => pool!.encodeRows(spec, request.query, request.documents)));
    const encoder = new PairEncoder();
    for (const [index, request] of sample.entries()) {
      const inProcess = await encoder.encodeRows(spec, request.query, request.documents);
      expect(fromPool[index]).toEqual(inProcess);
    }
  });

  it("rejects a query that leaves no room for documents as invalid", async () => {
    const longQuery = requests.find((request) => request.documents.includes(""))!.query;
    await expect(pool!.encodeRows(spec, longQuery, ["a document"])).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringContaining("only_second"),
    });
  });

  it("fails preload on a tokenizer file that does not exist, naming it", async () => {
    const missing = { ...spec, tokenizerFile: join(packageRoot(), "no-such-tokenizer.json") };
    await expect(pool!.preload([missing])).rejects.toThrow("no-such-tokenizer.json");
  });
});
