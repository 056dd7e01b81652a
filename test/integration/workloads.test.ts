/**
 * Real workloads with the stock configuration (the shipped registry's routing settings, no overrides): 1000-document
 * requests and documents of 256+ tokens on every served model, work-relative budgets that still catch a slowed
 * model, and a deadline that says which stage it ran out in.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { readMsmarco } from "../../bench/test-data.js";
import { DegradedReason } from "../../src/gen/rerank/v1/rerank.js";
import { clearFault, setFault } from "../support/faults.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";
import { metric } from "../support/metrics.js";

const MODELS = [
  "all-minilm-l6-v2",
  "tiny-bert-reranker",
  "tiny-deberta-reranker",
  "tiny-xlmr-reranker",
  "tiny-mxbai-v2-reranker",
  "tiny-bge-gemma-reranker",
];
const { passages, queries } = readMsmarco();
const query = queries[0]!;
/** msmarco passages in order: about 80 tokens each. */
const shortDocuments = (count: number) => Array.from({ length: count }, (_, i) => passages[i % passages.length]!);
/** Four msmarco passages joined: 256+ tokens each, so every model truncates them. */
const longDocuments = (count: number) => Array.from({ length: count }, (_, i) => passages.slice(i * 4, i * 4 + 4).join(" "));
/** Generous client deadline: the CPU Triton runs the real MiniLM at ~150 ms per 1000 cells on 2 cores. */
const CLIENT_DEADLINE_MS = 180_000;

let gateway: RunningGateway;
beforeAll(async () => {
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl"), RERANK_MODELS: MODELS.join(",") });
});
afterAll(() => gateway?.stop());

describe("the stock configuration on real workloads", () => {
  it.each(MODELS)(
    "%s scores 1000 documents and 100 documents of 256+ tokens, undegraded",
    async (model) => {
      for (const documents of [shortDocuments(1000), longDocuments(100)]) {
        const response = await gateway.rerank({ query, documents, model, truncate: true }, { deadlineMs: CLIENT_DEADLINE_MS });
        expect(response.model).toBe(model);
        expect(response.degraded).toBe(false);
        expect(response.results).toHaveLength(documents.length);
        expect(new Set(response.results.map((result) => result.index)).size).toBe(documents.length);
      }
    },
    240_000,
  );
});

describe("work-relative budgets", () => {
  const [PRIMARY, FALLBACK] = ["tiny-mxbai-v2-reranker", "tiny-deberta-reranker"];
  let chain: RunningGateway;
  beforeAll(async () => {
    chain = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl"), RERANK_MODELS: `${PRIMARY},${FALLBACK}` });
  });
  afterAll(async () => {
    clearFault(PRIMARY);
    await chain?.stop();
  });

  it("a stalled primary still runs past its budget, falls back, and opens its breaker", async () => {
    const request = () =>
      chain.rerank({ query, documents: shortDocuments(4), model: PRIMARY, truncate: true }, { deadlineMs: 30_000 });
    // A healthy primary first: the budget learns its cost per cell from these calls.
    for (let call = 0; call < 6; call++) expect((await request()).model).toBe(PRIMARY);
    // Then it stalls: a call's budget is now 2 s plus little for its cells, and 8 s is far past it.
    setFault(PRIMARY, { delay_ms: 8_000 });
    // Failures must outnumber the warm-up's successes in the breaker's window (stock threshold: 50%).
    const first = await Promise.all(Array.from({ length: 8 }, request));
    for (const response of first) {
      expect(response.model).toBe(FALLBACK);
      expect(response.degradedReason).toBe(DegradedReason.DEGRADED_REASON_TIMEOUT);
    }
    const started = Date.now();
    const next = await request();
    expect(next.degradedReason).toBe(DegradedReason.DEGRADED_REASON_BREAKER_OPEN);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await metric(chain.metricsUrl, "rerank_breaker_state", { model: PRIMARY })).toBe(2);
  });

  it("a model past its work's budget is a budget failure; a deadline that passes first names the stage", async () => {
    setFault(PRIMARY, { delay_ms: 8_000 });
    const pinned = (target: RunningGateway) =>
      target.rerank({ query, documents: shortDocuments(2), model: PRIMARY, disableFallback: true }, { deadlineMs: 60_000 });
    const overBudget = await grpcError(pinned(gateway));
    expect(overBudget.code).toBe(status.DEADLINE_EXCEEDED);
    expect(overBudget.details).toMatch(/did not answer within the \d+ ms its work allows/);

    // Only the gateway's own bound (1 s, below the stock budget) can end this call before the stall does.
    const bounded = await startGateway({
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_MODELS: PRIMARY,
      RERANK_DEFAULT_TIMEOUT_MS: "1000",
    });
    try {
      const expired = await grpcError(pinned(bounded));
      expect(expired.code).toBe(status.DEADLINE_EXCEEDED);
      expect(expired.details).toMatch(/deadline passed while waiting for Triton \(model tiny-mxbai-v2-reranker, 0 of 1 batches/);
    } finally {
      await bounded.stop();
    }
  });
});
