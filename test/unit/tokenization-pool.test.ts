/**
 * The tokenizer pool's chunks and token cache: chunk planning and reassembly, the cache's LRU by bytes and its
 * metrics, and the built pool (worker threads run dist/, so `npm run build` first) with the committed fixture
 * tokenizers: chunks in order and equal to encodeRows', fair dispatch, cancellation, cache hits and misses.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/config/paths.js";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import { concatChunks, planChunks } from "../../src/tokenization/chunks.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { TokenizerPool } from "../../src/tokenization/pool.js";
import { TokenCache, type DocumentIds } from "../../src/tokenization/token-cache.js";
import { GatewayError } from "../../src/errors.js";
import { importBuiltPool } from "../support/built-pool.js";

const fixtureDir = join(packageRoot(), "test", "fixtures", "tokenizers");
const deberta: TokenizationSpec = {
  tokenizerFile: join(fixtureDir, "deberta-v3-unigram-test", "tokenizer.json"),
  family: "deberta-v2",
  maxLength: 64,
  truncation: "longest_first",
};
const biEncoder: TokenizationSpec = { ...deberta, family: "bi-encoder", maxLength: 32 };
const xlmr: TokenizationSpec = {
  tokenizerFile: join(fixtureDir, "xlmr-unigram-test", "tokenizer.json"),
  family: "xlm-roberta",
  maxLength: 48,
  truncation: "only_second",
  queryMaxLength: 16,
};

const sentence = (index: number) =>
  `passage ${index}: the reranker scores each document against the query, and documents repeat across requests ${"again ".repeat(index % 40)}`;
const documents = Array.from({ length: 100 }, (_, index) => sentence(index));
const query = "which documents repeat across requests";

/** The metric's value, read from its registry. */
async function valueOf(metrics: GatewayMetrics, name: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values[0]?.value ?? 0;
}

describe("planChunks", () => {
  it("covers every document once, in order, within the document and byte bounds", () => {
    const sizes = [10, 500, 10, 10, 3000, 10, 10, 10, 10, 10];
    const texts = sizes.map((size) => "é".repeat(size / 2));
    const chunks = planChunks("q", texts, { documents: 3, bytes: 1000 });
    expect(chunks).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 4 },
      { start: 4, end: 5 },
      { start: 5, end: 8 },
      { start: 8, end: 10 },
    ]);
  });

  it("keeps a request whose query alone passes the byte bound in one chunk, and a request without documents as one", () => {
    expect(planChunks("q".repeat(2000), ["a", "b", "c"], { documents: 1, bytes: 1000 })).toEqual([{ start: 0, end: 3 }]);
    expect(planChunks("q", [])).toEqual([{ start: 0, end: 0 }]);
    expect(() => planChunks("q", ["a"], { documents: 0, bytes: 10 })).toThrow(RangeError);
  });
});

describe("concatChunks", { timeout: 60_000 }, () => {
  const encoder = new PairEncoder();
  it.each([
    ["pairs", deberta],
    ["a bi-encoder's texts (each chunk starts with the query's row)", biEncoder],
  ])("gives encodeRows' rows from the chunks' rows: %s", async (_, spec) => {
    const chunks = await Promise.all(encoder.encodeChunks(spec, query, documents, { limits: { documents: 7, bytes: 1 << 20 } }));
    expect(chunks).toHaveLength(15);
    expect(concatChunks(chunks, spec.family === "bi-encoder")).toEqual(await encoder.encodeRows(spec, query, documents));
  });

  it.each([
    ["pairs", deberta],
    ["a bi-encoder's texts", biEncoder],
  ])("keeps every document's windows in order (split_max): %s", async (_, spec) => {
    const split = { maxTokensPerDocument: 0, maxWindows: 10_000 };
    const chunks = await Promise.all(
      encoder.encodeChunks(spec, query, documents, { limits: { documents: 7, bytes: 1 << 20 }, split }),
    );
    const whole = await encoder.encodeRows(spec, query, documents, split);
    expect(concatChunks(chunks, spec.family === "bi-encoder")).toEqual(whole);
    expect(whole.windows).toHaveLength(documents.length);
    expect(Math.max(...whole.windows!)).toBeGreaterThan(1);
  });
});

describe("TokenCache", () => {
  const part = (length: number): DocumentIds => ({ ids: new Int32Array(length).fill(7), cut: false, whole: true });
  /** What an entry of `length` ids under a key of `key.length` costs (the cache's own accounting). */
  const costOf = (key: string, length: number) => {
    const probe = new TokenCache(1 << 20);
    probe.set(key, part(length));
    return probe.stats.bytes;
  };

  it("evicts least recently used entries once their bytes pass the bound; a read counts as a use", () => {
    const cost = costOf("a", 100);
    const cache = new TokenCache(cost * 3);
    cache.set("a", part(100));
    cache.set("b", part(100));
    cache.set("c", part(100));
    expect(cache.get("a")?.ids.length).toBe(100);
    cache.set("d", part(100));
    expect(cache.get("b")).toBeUndefined();
    expect([cache.get("a"), cache.get("c"), cache.get("d")].every(Boolean)).toBe(true);
    expect(cache.stats).toEqual({ entries: 3, bytes: cost * 3 });
    // A larger entry pushes out as many as it needs, least recently used first.
    cache.set("e", part(150));
    expect(cache.stats.entries).toBe(2);
    expect(cache.get("d")).toBeDefined();
    expect(cache.stats.bytes).toBeLessThanOrEqual(cost * 3);
  });

  it("counts ids at 4 bytes each, replaces an entry under the same key, and keeps nothing larger than the bound", () => {
    expect(costOf("a", 1100) - costOf("a", 100)).toBe(4000);
    const cache = new TokenCache(costOf("k", 10));
    cache.set("k", part(5));
    cache.set("k", part(10));
    expect(cache.stats).toEqual({ entries: 1, bytes: costOf("k", 10) });
    cache.set("big", part(11));
    expect(cache.get("big")).toBeUndefined();
    expect(() => new TokenCache(-1)).toThrow(RangeError);
  });

  it("keeps its own copy of the ids", () => {
    const cache = new TokenCache(1 << 20);
    const entry = part(3);
    cache.set("k", entry);
    entry.ids.fill(0);
    expect(Array.from(cache.get("k")!.ids)).toEqual([7, 7, 7]);
  });

  it("keys by settings and by the text's hash", () => {
    expect(TokenCache.keyOf("s", "doc")).toBe(TokenCache.keyOf("s", "doc"));
    expect(TokenCache.keyOf("s", "doc")).not.toBe(TokenCache.keyOf("t", "doc"));
    expect(TokenCache.keyOf("s", "doc")).not.toBe(TokenCache.keyOf("s", "doc "));
  });
});

// Worker start-up and tokenizer loading take seconds on a busy machine.
describe("TokenizerPool (built worker threads)", { timeout: 60_000 }, () => {
  let Pool: typeof TokenizerPool;
  const pools: TokenizerPool[] = [];
  const encoder = new PairEncoder();
  const open = (...args: ConstructorParameters<typeof TokenizerPool>) => {
    const pool = new Pool(...args);
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    Pool = await importBuiltPool();
  });
  afterAll(() => Promise.all(pools.map((pool) => pool.close())));

  it.each([
    ["pairs", deberta],
    ["a bi-encoder", biEncoder],
    ["capped, re-encoded pairs", xlmr],
  ])("encodes chunks of consecutive documents, in order, that make up encodeRows' rows: %s", async (_, spec) => {
    const pool = open(2, { chunkLimits: { documents: 8, bytes: 1 << 20 } });
    const chunks = await Promise.all(pool.encodeChunks(spec, query, documents));
    expect(chunks).toHaveLength(13);
    const startsWithQuery = spec.family === "bi-encoder";
    // Each chunk is exactly the in-thread encoding of its documents.
    for (const [index, chunk] of chunks.entries()) {
      expect(chunk).toEqual(await encoder.encodeRows(spec, query, documents.slice(index * 8, index * 8 + 8)));
      expect(chunk.truncated.length).toBe(Math.min(8, documents.length - index * 8) + (startsWithQuery ? 1 : 0));
    }
    const expected = await encoder.encodeRows(spec, query, documents);
    expect(concatChunks(chunks, startsWithQuery)).toEqual(expected);
    expect(await pool.encodeRows(spec, query, documents)).toEqual(expected);
  });

  it("with one thread, answers a small request sent after a large one before the large one's last chunk", async () => {
    const pool = open(1, { chunkLimits: { documents: 4, bytes: 1 << 20 } });
    await pool.preload([deberta]);
    const finished: string[] = [];
    const large = pool
      .encodeChunks(deberta, query, documents)
      .map((chunk, index) => chunk.then(() => finished.push(`large ${index}`)));
    const small = pool.encodeRows(deberta, query, documents.slice(0, 2)).then(() => finished.push("small"));
    await Promise.all([...large, small]);
    expect(finished).toHaveLength(26);
    // Dispatched while the first large chunk ran, the small request waits for that one chunk only.
    expect(finished.indexOf("small")).toBe(1);
    expect(finished.filter((name) => name !== "small")).toEqual(Array.from({ length: 25 }, (_, index) => `large ${index}`));
  });

  it("takes turns between two large requests", async () => {
    const pool = open(1, { chunkLimits: { documents: 10, bytes: 1 << 20 } });
    await pool.preload([deberta]);
    const finished: string[] = [];
    const run = (name: string) =>
      pool.encodeChunks(deberta, query, documents).map((chunk) => chunk.then(() => finished.push(name)));
    await Promise.all([...run("a"), ...run("b")]);
    expect(finished.slice(0, 6)).toEqual(["a", "b", "a", "b", "a", "b"]);
  });

  it("rejects the chunks not yet started when the request's signal aborts", async () => {
    const pool = open(1, { chunkLimits: { documents: 2, bytes: 1 << 20 } });
    await pool.preload([deberta]);
    const controller = new AbortController();
    const chunks = pool.encodeChunks(deberta, query, documents, { signal: controller.signal });
    controller.abort(new GatewayError("cancelled", "the client cancelled the call"));
    const outcomes = await Promise.allSettled(chunks);
    expect(outcomes[0]?.status).toBe("fulfilled");
    expect(outcomes.slice(1).every((outcome) => outcome.status === "rejected")).toBe(true);
    expect(outcomes[1]).toMatchObject({ reason: { kind: "cancelled" } });
    // The pool goes on serving.
    expect(await pool.encodeRows(deberta, query, documents.slice(0, 3))).toEqual(
      await encoder.encodeRows(deberta, query, documents.slice(0, 3)),
    );
  });

  it("rejects every chunk of a request whose query leaves no room, without crashing on chunks nobody awaits", async () => {
    const pool = open(2, { chunkLimits: { documents: 10, bytes: 1 << 20 } });
    const onlySecond = { ...deberta, truncation: "only_second" as const, maxLength: 16 };
    const chunks = pool.encodeChunks(onlySecond, "a query far longer than sixteen tokens ".repeat(4), documents);
    await expect(chunks[0]).rejects.toMatchObject({ kind: "invalid" });
    // The other nine are never awaited here: settled() keeps them from failing the process.
  });

  describe("token cache", () => {
    it.each([
      ["pairs", deberta],
      ["a bi-encoder", biEncoder],
      ["capped, re-encoded pairs", xlmr],
    ])("gives the same rows cold and warm, counting misses then hits, for %s", async (_, spec) => {
      const metrics = new GatewayMetrics();
      const pool = open(2, { cacheBytes: 1 << 20, metrics, chunkLimits: { documents: 16, bytes: 1 << 20 } });
      const expected = await encoder.encodeRows(spec, query, documents);
      expect(await pool.encodeRows(spec, query, documents)).toEqual(expected);
      expect(await valueOf(metrics, "rerank_token_cache_misses_total")).toBe(100);
      expect(await valueOf(metrics, "rerank_token_cache_hits_total")).toBe(0);
      const cachedBytes = await valueOf(metrics, "rerank_token_cache_bytes");
      expect(cachedBytes).toBeGreaterThan(100 * 4 * 10);

      expect(await pool.encodeRows(spec, query, documents)).toEqual(expected);
      expect(await valueOf(metrics, "rerank_token_cache_hits_total")).toBe(100);
      expect(await valueOf(metrics, "rerank_token_cache_misses_total")).toBe(100);
      // Another query pairs the same cached documents.
      expect(await pool.encodeRows(spec, "another query", documents.slice(0, 10))).toEqual(
        await encoder.encodeRows(spec, "another query", documents.slice(0, 10)),
      );
      expect(await valueOf(metrics, "rerank_token_cache_hits_total")).toBe(110);
      expect(await valueOf(metrics, "rerank_token_cache_bytes")).toBe(cachedBytes);
    });

    it("tokenizes a cached document again when a longer query needs more of its ids than were kept", async () => {
      const metrics = new GatewayMetrics();
      const pool = open(1, { cacheBytes: 1 << 20, metrics });
      const long = Array.from({ length: 60 }, (_, index) => sentence(index)).join(" ");
      const longQuery = sentence(7).repeat(8);
      await pool.encodeRows(deberta, "short", [long]);
      // With the short query the cache kept just over the budget's ids; the long query outnumbers them.
      expect(await pool.encodeRows(deberta, longQuery, [long])).toEqual(await encoder.encodeRows(deberta, longQuery, [long]));
      expect(await valueOf(metrics, "rerank_token_cache_misses_total")).toBe(2);
      expect(await valueOf(metrics, "rerank_token_cache_hits_total")).toBe(0);
      // Now long enough for both queries.
      expect(await pool.encodeRows(deberta, "short", [long])).toEqual(await encoder.encodeRows(deberta, "short", [long]));
      expect(await valueOf(metrics, "rerank_token_cache_hits_total")).toBe(1);
    });

    it("keeps entries of different settings apart", async () => {
      const pool = open(1, { cacheBytes: 1 << 20 });
      const other = { ...deberta, maxLength: 16 };
      await pool.encodeRows(deberta, query, documents);
      expect(await pool.encodeRows(other, query, documents)).toEqual(await encoder.encodeRows(other, query, documents));
      expect(await pool.encodeRows(biEncoder, query, documents)).toEqual(await encoder.encodeRows(biEncoder, query, documents));
    });

    it("is off with 0 bytes: no metrics move", async () => {
      const metrics = new GatewayMetrics();
      const pool = open(1, { cacheBytes: 0, metrics });
      await pool.encodeRows(deberta, query, documents.slice(0, 5));
      await pool.encodeRows(deberta, query, documents.slice(0, 5));
      expect(await valueOf(metrics, "rerank_token_cache_hits_total")).toBe(0);
      expect(await valueOf(metrics, "rerank_token_cache_misses_total")).toBe(0);
    });
  });
});
