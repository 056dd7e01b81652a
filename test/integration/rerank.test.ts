/** The whole request path against the real Triton process: gateway (child process) → Triton → scores. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";

const sample = JSON.parse(readFileSync(join(import.meta.dirname, "../../examples/sample-request.json"), "utf8")) as {
  query: string;
  documents: string[];
};
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const words = (count: number) => Array.from({ length: count }, (_, i) => `word${i % 97}`).join(" ");

let gateway: RunningGateway;
/** These tests exercise the cross-encoder path: the tiny BERT, whatever the default model is. */
const rerank = (request: Parameters<RunningGateway["rerank"]>[0]) => gateway.rerank({ model: "tiny-bert-reranker", ...request });

beforeAll(async () => {
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
});
afterAll(() => gateway?.stop());

describe("Rerank", () => {
  it("returns every document once, sorted by score, with model, usage and timing", async () => {
    const response = await rerank({ query: sample.query, documents: sample.documents });
    expect(response.model).toBe("tiny-bert-reranker");
    expect(response.results.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const scores = response.results.map((r) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const score of scores) (expect(score).toBeGreaterThan(0), expect(score).toBeLessThan(1));
    expect(response.usage?.pairs).toBe(6);
    expect(response.usage?.tokens).toBeGreaterThan(6 * 10);
    expect(response.timing?.totalMs).toBeGreaterThanOrEqual(response.timing!.inferenceMs);
    expect(response.results.every((r) => r.document === undefined && !r.truncated)).toBe(true);
  });

  it("normalized scores are the sigmoid of the raw logits", async () => {
    const [normalized, raw] = await Promise.all([
      rerank({ query: sample.query, documents: sample.documents }),
      rerank({ query: sample.query, documents: sample.documents, rawScores: true }),
    ]);
    const rawByIndex = new Map(raw.results.map((r) => [r.index, r.score]));
    for (const result of normalized.results) expect(result.score).toBeCloseTo(sigmoid(rawByIndex.get(result.index)!), 12);
    expect(raw.results.some((r) => r.score < 0 || r.score > 1)).toBe(true);
  });

  it("scores a document the same alone, in a padded batch, and split over several Triton batches", async () => {
    // 70 documents of very different lengths: more than max_batch_size (32), so the gateway splits and pads.
    const documents = Array.from({ length: 70 }, (_, i) =>
      i % 7 === 0 ? sample.documents[i % 6]! : words(3 + ((i * 13) % 120)),
    );
    const together = await rerank({ query: sample.query, documents, rawScores: true });
    const alone = await Promise.all(
      [0, 5, 33, 69].map((index) => rerank({ query: sample.query, documents: [documents[index]!], rawScores: true })),
    );
    const byIndex = new Map(together.results.map((r) => [r.index, r.score]));
    [0, 5, 33, 69].forEach((index, i) => expect(byIndex.get(index)).toBeCloseTo(alone[i]!.results[0]!.score, 4));
    expect(together.results).toHaveLength(70);
  });

  it("keeps first-stage order for equal scores", async () => {
    const documents = ["same text", "other text", "same text", "same text"];
    const response = await rerank({ query: "q", documents, rawScores: true });
    const same = response.results.filter((r) => documents[r.index] === "same text").map((r) => r.index);
    expect(same).toEqual([0, 2, 3]);
  });

  it("top_n keeps the best results and return_documents echoes their text", async () => {
    const all = await rerank({ query: sample.query, documents: sample.documents });
    const top = await rerank({ query: sample.query, documents: sample.documents, topN: 2, returnDocuments: true });
    expect(top.results.map((r) => r.index)).toEqual(all.results.slice(0, 2).map((r) => r.index));
    for (const result of top.results) expect(result.document).toBe(sample.documents[result.index]);
    const more = await rerank({ query: sample.query, documents: sample.documents, topN: 50 });
    expect(more.results).toHaveLength(6);
  });

  it("an over-long pair is INVALID_ARGUMENT naming the document unless truncate is set", async () => {
    const documents = ["short", words(600)];
    const error = await grpcError(rerank({ query: sample.query, documents }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/document 1: with the query it is over model tiny-bert-reranker's maximum of 512 tokens/);
    const response = await rerank({ query: sample.query, documents, truncate: true });
    const truncated = Object.fromEntries(response.results.map((r) => [r.index, r.truncated]));
    expect(truncated).toEqual({ 0: false, 1: true });
    expect(response.usage?.tokens).toBeLessThanOrEqual(512 + 20);
  });
});

describe("Rerank rejects bad input with a clear status", () => {
  const cases: [string, Parameters<RunningGateway["rerank"]>[0], status, RegExp][] = [
    ["an empty query", { query: "  ", documents: ["a"] }, status.INVALID_ARGUMENT, /query must not be empty/],
    ["no documents", { query: "q", documents: [] }, status.INVALID_ARGUMENT, /documents must not be empty/],
    ["too many documents", { query: "q", documents: Array(1001).fill("d") }, status.INVALID_ARGUMENT, /1001 given, at most 1000/],
    ["an empty document", { query: "q", documents: ["a", ""] }, status.INVALID_ARGUMENT, /document 1 is empty/],
    ["a negative top_n", { query: "q", documents: ["a"], topN: -1 }, status.INVALID_ARGUMENT, /top_n must be >= 0/],
    [
      "a query over the model's query limit, without truncate",
      { query: words(200), documents: ["a"], model: "tiny-xlmr-reranker" },
      status.INVALID_ARGUMENT,
      /query: it is over model tiny-xlmr-reranker's limit of 96 query tokens/,
    ],
    [
      "an unknown model",
      { query: "q", documents: ["a"], model: "nope" },
      status.NOT_FOUND,
      /"nope" .* available models: .*tiny-bert-reranker/,
    ],
  ];
  it.each(cases)("%s", async (_name, request, code, message) => {
    const error = await grpcError(gateway.rerank(request));
    expect(error.code).toBe(code);
    expect(error.details).toMatch(message);
  });
});

describe("ListModels", () => {
  it("lists the served models with Triton readiness; a model without its tokenizer is left out", async () => {
    const { models } = await gateway.listModels();
    expect(models.find((model) => model.name === "tiny-bert-reranker")).toEqual({
      name: "tiny-bert-reranker",
      family: "bert",
      maxLength: 512,
      ready: true,
      fallback: "all-minilm-l6-v2",
      isDefault: false,
    });
    expect(models.filter((model) => model.isDefault).map((model) => model.name)).toEqual(["all-minilm-l6-v2"]);
    expect(models.every((model) => model.ready)).toBe(true);
    expect(models.map((model) => model.name)).not.toContain("ms-marco-minilm-l6-v2");
    expect(gateway.logRecords()).toContainEqual(
      expect.objectContaining({
        msg: expect.stringMatching(/^model left out: its tokenizer file is missing/),
        model: "ms-marco-minilm-l6-v2",
      }),
    );
  });
});

describe("the default model (real all-MiniLM-L6-v2 weights)", () => {
  it("puts the two Harper Lee documents first for the quick start's sample", async () => {
    const response = await gateway.rerank({ query: sample.query, documents: sample.documents });
    expect(response.model).toBe("all-minilm-l6-v2");
    expect(new Set(response.results.slice(0, 2).map((r) => r.index))).toEqual(new Set([0, 2]));
  });
});
