/**
 * long_documents=split_max through the built gateway and the real Triton, with the shipped registry: every golden
 * model's scores against the reference of test/fixtures-build/goldens/split.py (max over its windows' ONNX scores,
 * within 1e-4, the same best window); 1000-document requests of long documents on every served model; a relevant
 * passage buried deep in a long document, which only split_max finds (all-MiniLM-L6-v2, real weights); the bound
 * on windows per request, refused before any Triton call; and `truncate`, which still governs the query.
 */
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { Tokenizer } from "tokenizers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadBeir, loadQrels } from "../../bench/beir.js";
import { bertTokenizerFile, joinPassages, readMsmarco, sharedData } from "../../bench/test-data.js";
import { loadCatalog } from "../../src/catalog/registry.js";
import { packageRoot } from "../../src/config/paths.js";
import { LongDocuments, type RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import { splitGoldens, splitRequests } from "../parity/split-goldens.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";
import { metric } from "../support/metrics.js";

/** The golden models: every model the stock CPU gateway serves with the test tokenizers (checked below). */
const MODELS = splitGoldens.map((golden) => golden.model);
const TOLERANCE = 1e-4;
const SPLIT = { longDocuments: LongDocuments.LONG_DOCUMENTS_SPLIT_MAX };
/**
 * The CPU Triton runs the real MiniLM at ~2,000-3,500 padded cells/s on these 2 shared cores: 1000 documents of two
 * windows are ~420k cells (235 s measured under a load average of 3), past the stock 60 s cap on a request
 * (RERANK_DEFAULT_TIMEOUT_MS), so this gateway allows 8 minutes; everything else is stock.
 */
const LONG_REQUEST_MS = 480_000;

const { passages, queries } = readMsmarco();
const catalog = loadCatalog(join(packageRoot(), "src", "catalog", "registry.json"));
const scoresByIndex = (response: RerankResponse) => {
  const results = new Map(response.results.map((result) => [result.index, result]));
  return (index: number) => results.get(index)!;
};

let gateway: RunningGateway;
beforeAll(async () => {
  gateway = await startGateway({
    TRITON_GRPC_URL: inject("tritonGrpcUrl"),
    RERANK_DEFAULT_TIMEOUT_MS: String(LONG_REQUEST_MS),
  });
});
afterAll(() => gateway?.stop());

describe.each(splitGoldens.map((golden) => [golden.model, golden] as const))(
  "%s scores split documents like the reference",
  (model, golden) => {
    it("each document: the best window's score within 1e-4, its windows, best window and truncated flag", async () => {
      for (const [requestIndex, request] of splitRequests.entries()) {
        const response = await gateway.rerank(
          {
            ...SPLIT,
            model,
            query: request.query,
            documents: [...request.documents],
            maxTokensPerDocument: request.maxTokensPerDocument,
            truncate: true,
            rawScores: true,
          },
          { deadlineMs: LONG_REQUEST_MS },
        );
        expect(response.model).toBe(model);
        const result = scoresByIndex(response);
        golden.requests[requestIndex]!.documents.forEach((reference, index) => {
          const where = `request ${requestIndex}, document ${index}`;
          const { score, windows, bestWindow, truncated } = result(index);
          expect(Math.abs(score - reference.rawScore), `${where}: ${score} vs ${reference.rawScore}`).toBeLessThan(TOLERANCE);
          expect(windows, where).toBe(reference.windows.length);
          expect(truncated, where).toBe(reference.truncated);
          if ((reference.bestWindowMargin ?? Infinity) > golden.tieMargin) {
            expect(bestWindow, where).toBe(reference.bestWindow);
          } else {
            // A tie within the noise: the window the gateway chose must score the best, by the reference too.
            expect(reference.rawScore - reference.windows[bestWindow]!.rawScore, where).toBeLessThan(TOLERANCE);
          }
        });
        expect(response.usage?.pairs).toBe(
          golden.requests[requestIndex]!.documents.reduce((sum, document) => sum + document.windows.length, 0),
        );
      }
    });

    it("a document that fits is one window, scored as with long_documents=truncate", async () => {
      const request = splitRequests[0]!;
      const fits = golden.requests[0]!.documents.findIndex((document) => document.windows.length === 1 && !document.truncated);
      expect(fits).toBeGreaterThanOrEqual(0);
      const documents = [request.documents[fits]!];
      const [split, truncated] = await Promise.all(
        [SPLIT, {}].map((mode) => gateway.rerank({ ...mode, model, query: request.query, documents, rawScores: true })),
      );
      expect(split!.results[0]).toMatchObject({ windows: 1, bestWindow: 0, truncated: false });
      expect(split!.results[0]!.score).toBeCloseTo(truncated!.results[0]!.score, 5);
    });
  },
);

describe("a relevant passage buried in a long document (all-minilm-l6-v2, real weights)", () => {
  const MINILM = "all-minilm-l6-v2";
  const dir = join(sharedData, "beir", "msmarco-5k");
  const { corpus, queries: judgedQueries } = loadBeir(dir);
  const qrels = loadQrels(dir);
  const textOf = new Map(corpus.map((passage) => [passage.id, passage.text]));
  /** Queries with a passage judged 3 (perfectly relevant): it, and the passages judged for no grade of the query. */
  const cases = judgedQueries.flatMap((query) => {
    const judged = qrels.get(query.id) ?? new Map<string, number>();
    const best = [...judged].find(([, grade]) => grade === 3);
    const unjudged = corpus.filter((passage) => !judged.has(passage.id)).map((passage) => passage.text);
    return best ? [{ query: query.text, relevant: textOf.get(best[0])!, unjudged }] : [];
  });
  // MiniLM's windows: bert-base-uncased ids, maxLength less [CLS] and [SEP] each, the overlap apart.
  const spec = catalog.models.get(MINILM)!;
  const windowTokens = spec.maxLength - 2;
  const stride = windowTokens - Math.floor(windowTokens * spec.windowOverlap);
  const bert = Tokenizer.fromFile(bertTokenizerFile);
  const tokenCount = async (text: string) => (await bert.encode(text, null, { addSpecialTokens: false })).getIds().length;
  /**
   * A mean-pooled window is mostly filler: only a passage the model clearly matches to the query on its own (cosine
   * 0.5 or more) can be told apart. The first such cases of the judged queries are used.
   */
  const RECOGNISED = 0.5;
  const CASES = 6;

  it(`split_max ranks it above where truncation leaves it, by a window that holds the passage (${CASES} queries)`, async () => {
    let tried = 0;
    for (const [index, { query, relevant, unjudged }] of cases.entries()) {
      if (tried === CASES) break;
      const alone = await gateway.rerank({ model: MINILM, query, documents: [relevant], truncate: true });
      if (alone.results[0]!.score < RECOGNISED) continue;
      tried++;
      // Filler the model finds least like the query: ~1,200 tokens of it before the passage, ~450 after.
      const pool = unjudged.slice(index * 60, index * 60 + 60);
      const byScore = await gateway.rerank({ model: MINILM, query, documents: pool, truncate: true });
      const filler = byScore.results.slice(-30).map((result) => pool[result.index]!);
      const [before, after] = [joinPassages(filler, 0, 5_000), joinPassages(filler, 20, 2_000)];
      const distractors = unjudged.slice(3_000 + index * 8, 3_008 + index * 8);
      // Document 4: the passage buried in the filler; document 9: the same filler without it.
      const documents = [
        ...distractors.slice(0, 4),
        `${before} ${relevant} ${after}`,
        ...distractors.slice(4),
        `${before} ${after}`,
      ];
      const request: Partial<RerankRequest> = { model: MINILM, query, documents, truncate: true };
      const [split, truncated] = await Promise.all([gateway.rerank({ ...request, ...SPLIT }), gateway.rerank(request)]);
      const rankOf = (response: RerankResponse) => response.results.findIndex((result) => result.index === 4);
      const where = `query "${query}": ranks split ${rankOf(split)}, truncate ${rankOf(truncated)}`;
      expect(rankOf(split), where).toBeLessThan(rankOf(truncated));
      expect(truncated.results[rankOf(truncated)]!.truncated).toBe(true);
      const buried = scoresByIndex(split)(4);
      expect(buried.score, where).toBeGreaterThan(scoresByIndex(split)(9).score);
      // The passage's ids follow the filler's (bert splits at the space); the best window holds some of them.
      const start = await tokenCount(before);
      const end = start + (await tokenCount(relevant));
      const windowStart = buried.bestWindow * stride;
      const span = `${where}: passage at ids ${start}-${end}, best window ${buried.bestWindow}`;
      expect(start, span).toBeLessThan(windowStart + windowTokens);
      expect(end, span).toBeGreaterThan(windowStart);
      expect(buried.bestWindow, span).toBeGreaterThan(0);
    }
    expect(tried).toBe(CASES);
  }, 400_000);
});

describe("the windows bound and the query", () => {
  let bounded: RunningGateway;
  beforeAll(async () => {
    // The default bound is 8 windows per document of RERANK_MAX_DOCUMENTS: 80 here.
    bounded = await startGateway({
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_MODELS: "tiny-bert-reranker",
      RERANK_MAX_DOCUMENTS: "10",
    });
  });
  afterAll(() => bounded?.stop());

  /** About 9,000 tokens each: 24 windows of tiny-bert-reranker's 500 tokens, 375 apart. */
  const longDocuments = [0, 1, 2, 3, 4].map((index) => joinPassages(passages, index * 100, 40_000));

  it("refuses more windows than the bound with INVALID_ARGUMENT naming both and what to do, before any Triton call", async () => {
    const error = await grpcError(bounded.rerank({ ...SPLIT, query: queries[0]!, documents: longDocuments, truncate: true }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(
      /the documents make at least \d+ windows, over the limit of 80 per request; set max_tokens_per_document/,
    );
    expect(Number(/at least (\d+)/.exec(error.details)![1])).toBeGreaterThan(80);
    expect(await metric(bounded.metricsUrl, "rerank_tokens_sent_total")).toBeUndefined();
    // What the message says to do: fewer tokens per document.
    const response = await bounded.rerank({
      ...SPLIT,
      query: queries[0]!,
      documents: longDocuments,
      maxTokensPerDocument: 2_000,
    });
    expect(response.results.every((result) => result.truncated && result.windows > 1)).toBe(true);
    expect(response.usage?.pairs).toBeLessThanOrEqual(80);
  });

  it("windows long documents without truncate, but keeps refusing a query the model would cut", async () => {
    const response = await gateway.rerank({
      ...SPLIT,
      model: "tiny-xlmr-reranker",
      query: queries[0]!,
      documents: longDocuments,
    });
    expect(response.results.every((result) => result.windows > 1 && !result.truncated)).toBe(true);
    const longQuery = joinPassages(passages, 3_000, 2_000);
    const error = await grpcError(
      gateway.rerank({ ...SPLIT, model: "tiny-xlmr-reranker", query: longQuery, documents: longDocuments }),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(
      /^query: it is over model tiny-xlmr-reranker's limit of 96 query tokens; shorten it or set truncate=true/,
    );
  });
});

describe("the stock configuration on 1000 long documents", () => {
  /** `text` cut after its `count`-th token of `tokenizer` (whose offsets count code points). */
  async function firstTokens(tokenizer: Tokenizer, text: string, count: number): Promise<string> {
    const offsets = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getOffsets();
    if (offsets.length < count) throw new Error(`the text has ${offsets.length} tokens, fewer than ${count}`);
    return Array.from(text)
      .slice(0, offsets[count - 1]![1])
      .join("");
  }

  it("covers every served model", async () => {
    expect(new Set((await gateway.listModels()).models.map((model) => model.name))).toEqual(new Set(MODELS));
  });

  // all-MiniLM-L6-v2 (real weights) last: the others take seconds, it takes minutes.
  it.each([...MODELS].reverse())(
    "%s scores 1000 documents of 256+ tokens in several windows each",
    async (model) => {
      const spec = catalog.models.get(model)!;
      const tokenizer = Tokenizer.fromFile(join(inject("tokenizerDir"), spec.tokenizer));
      // Just past a row of the model's (and 256 tokens): 2 windows at 256 and 512 tokens a row, 3 at 128.
      const tokens = Math.max(256, spec.maxLength + 8);
      const documents = await Promise.all(
        Array.from({ length: 1000 }, (_, index) => firstTokens(tokenizer, joinPassages(passages, index * 7, 6 * tokens), tokens)),
      );
      const response = await gateway.rerank(
        { ...SPLIT, model, query: queries[0]!, documents, truncate: true, disableFallback: true },
        { deadlineMs: LONG_REQUEST_MS },
      );
      expect(response.model).toBe(model);
      expect(response.results).toHaveLength(1000);
      expect(new Set(response.results.map((result) => result.index)).size).toBe(1000);
      expect(Math.min(...response.results.map((result) => result.windows))).toBeGreaterThanOrEqual(2);
      expect(response.usage?.pairs).toBe(response.results.reduce((sum, result) => sum + result.windows, 0));
      expect(response.results.every((result) => result.bestWindow < result.windows && !result.truncated)).toBe(true);
    },
    LONG_REQUEST_MS + 60_000,
  );
});
