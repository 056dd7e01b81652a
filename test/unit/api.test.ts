import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/api/errors.js";
import { rank } from "../../src/api/ranking.js";
import { validateRerank } from "../../src/api/validation.js";
import { RerankRequest } from "../../src/gen/rerank/v1/rerank.js";
import { loadRegistry } from "../../src/models/registry.js";
import { toScores } from "../../src/models/score-heads.js";

const registry = loadRegistry(join(import.meta.dirname, "../../src/models/registry.json"), { target: "cpu" });
const base = RerankRequest.fromPartial({ query: "q", documents: ["a", "b"] });

function rejection(request: Partial<RerankRequest>): GatewayError {
  try {
    validateRerank({ ...base, ...request }, registry, 3);
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error("request was accepted");
}

describe("validateRerank", () => {
  it("resolves the default model and keeps the options", () => {
    const valid = validateRerank({ ...base, topN: 1, truncate: true }, registry, 3);
    expect(valid).toMatchObject({ model: registry.defaultModel, topN: 1, truncate: true, documents: ["a", "b"] });
  });

  it.each([
    [{ query: "" }, status.INVALID_ARGUMENT, "query must not be empty"],
    [{ documents: [] }, status.INVALID_ARGUMENT, "documents must not be empty"],
    [{ documents: ["a", "b", "c", "d"] }, status.INVALID_ARGUMENT, "documents: 4 given, at most 3 per request"],
    [{ documents: ["a", " \n"] }, status.INVALID_ARGUMENT, "document 1 is empty"],
    [{ topN: -2 }, status.INVALID_ARGUMENT, "top_n must be >= 0 (0 returns all results), got -2"],
    [
      { model: "x" },
      status.NOT_FOUND,
      `model "x" is not served here; available models: ${[...registry.models.keys()].join(", ")}`,
    ],
  ] as [Partial<RerankRequest>, status, string][])("%o is rejected", (request, code, message) => {
    const error = rejection(request);
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
  });
});

describe("rank", () => {
  it("sorts by score descending, ties by index, keeps topN and echoes documents", () => {
    const scores = Float64Array.from([0.2, 0.9, 0.2, 0.5]);
    const truncated = Uint8Array.from([0, 0, 1, 0]);
    expect(rank(scores, truncated, 0).map((r) => r.index)).toEqual([1, 3, 0, 2]);
    expect(rank(scores, truncated, 2, ["a", "b", "c", "d"])).toEqual([
      { index: 1, score: 0.9, document: "b", truncated: false },
      { index: 3, score: 0.5, document: "d", truncated: false },
    ]);
  });
});

describe("toScores", () => {
  it("applies the model's transform unless raw scores are asked for", () => {
    const logits = Float32Array.from([0, 2]);
    expect(Array.from(toScores(logits, { score: "sigmoid" }, false))).toEqual([0.5, 1 / (1 + Math.exp(-2))]);
    expect(Array.from(toScores(logits, { score: "sigmoid" }, true))).toEqual([0, 2]);
    expect(Array.from(toScores(logits, { score: "identity" }, false))).toEqual([0, 2]);
    expect(Array.from(toScores(logits, { score: "sigmoid", scoreCenter: 2 }, false))).toEqual([1 / (1 + Math.exp(2)), 0.5]);
  });
});
