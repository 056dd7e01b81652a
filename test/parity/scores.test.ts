/**
 * Score parity through the whole product: every golden request (written by test/fixtures-build/make_goldens.py from the
 * reference library — sentence-transformers, mxbai-rerank, FlagEmbedding — run on the same weights) goes
 * through the gateway and the real Triton; each score must be within 1e-4 of the reference, in the same order.
 * Runs in the integration project, which owns the Triton process.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startGateway, type RunningGateway } from "../support/gateway.js";

interface GoldenDocument {
  document: string;
  rawScore: number;
  normalizedScore?: number | null;
  truncated: boolean;
}
interface Golden {
  model: string;
  requests: { query: string; documents: GoldenDocument[] }[];
}

const goldenDir = join(import.meta.dirname, "goldens");
const goldens: Golden[] = readdirSync(goldenDir)
  .filter((file) => file.endsWith(".json"))
  .map((file) => JSON.parse(readFileSync(join(goldenDir, file), "utf8")));
const TOLERANCE = 1e-4;

let gateway: RunningGateway;
beforeAll(async () => {
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
});
afterAll(() => gateway?.stop());

/** Document indices ordered by score, highest first, ties by index (the gateway's order). */
const orderOf = (scores: number[]) => scores.map((_, index) => index).sort((a, b) => scores[b]! - scores[a]! || a - b);

describe.each(goldens.map((golden) => [golden.model, golden] as const))("%s scores like its reference", (model, golden) => {
  it(`all ${golden.requests.reduce((n, r) => n + r.documents.length, 0)} pairs: raw and normalized within ${TOLERANCE}, same order`, async () => {
    for (const request of golden.requests) {
      const documents = request.documents.map((d) => d.document);
      const [raw, normalized] = await Promise.all(
        [true, false].map((rawScores) => gateway.rerank({ query: request.query, documents, model, truncate: true, rawScores })),
      );
      const byIndex = (response: typeof raw) => {
        const scores: number[] = [];
        for (const result of response!.results) scores[result.index] = result.score;
        return scores;
      };
      const rawScores = byIndex(raw);
      const normalizedScores = byIndex(normalized);
      request.documents.forEach((reference, index) => {
        const where = `${model}, query "${request.query.slice(0, 40)}", document ${index}`;
        expect(
          Math.abs(rawScores[index]! - reference.rawScore),
          `${where}: raw ${rawScores[index]} vs ${reference.rawScore}`,
        ).toBeLessThan(TOLERANCE);
        const expected = reference.normalizedScore ?? reference.rawScore;
        expect(
          Math.abs(normalizedScores[index]! - expected),
          `${where}: normalized ${normalizedScores[index]} vs ${expected}`,
        ).toBeLessThan(TOLERANCE);
        expect(raw!.results.find((r) => r.index === index)?.truncated, `${where}: truncated flag`).toBe(reference.truncated);
      });
      expect(raw!.results.map((r) => r.index)).toEqual(orderOf(request.documents.map((d) => d.rawScore)));
      expect(raw!.model).toBe(model);
    }
  });
});

it("covers every family of the registry", () => {
  expect(new Set(goldens.map((golden) => golden.model))).toEqual(
    new Set([
      "tiny-bert-reranker",
      "tiny-deberta-reranker",
      "tiny-xlmr-reranker",
      "tiny-mxbai-v2-reranker",
      "tiny-bge-gemma-reranker",
      "all-minilm-l6-v2",
    ]),
  );
});
