import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GatewayError, type ErrorKind } from "../../src/errors.js";
import { rank } from "../../src/api/ranking.js";
import { validateRerank, type RerankInput } from "../../src/api/validation.js";
import { loadRegistry } from "../../src/catalog/registry.js";
import { toScores } from "../../src/pipeline/score-heads.js";
import { rerankInput } from "../support/rerank-input.js";

const registry = loadRegistry(join(import.meta.dirname, "../../src/catalog/registry.json"), { target: "cpu" });
const base = rerankInput({ query: "q", documents: ["a", "b"] });

function rejection(request: Partial<RerankInput>): GatewayError {
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

  it("serves split_max, with or without max_tokens_per_document", () => {
    for (const maxTokensPerDocument of [0, 300]) {
      const valid = validateRerank({ ...base, longDocuments: "split_max", maxTokensPerDocument }, registry, 3);
      expect(valid).toMatchObject({ longDocuments: "split_max", maxTokensPerDocument });
    }
  });

  it.each([
    [{ query: "" }, "invalid", "query must not be empty"],
    [{ documents: [] }, "invalid", "documents must not be empty"],
    [{ documents: ["a", "b", "c", "d"] }, "invalid", "documents: 4 given, at most 3 per request"],
    [{ documents: ["a", " \n"] }, "invalid", "document 1 is empty"],
    [{ topN: -2 }, "invalid", "top_n must be >= 0 (0 returns all results), got -2"],
    [{ longDocuments: "7" }, "invalid", 'long_documents: "7" is not one of truncate, split_max'],
    [
      { longDocuments: "split_max", maxTokensPerDocument: -1 },
      "invalid",
      "max_tokens_per_document must be an integer >= 0 (0 scores whole documents), got -1",
    ],
    [
      { maxTokensPerDocument: 100 },
      "invalid",
      "max_tokens_per_document applies to long_documents=split_max; set that, or leave it 0",
    ],
    [{ model: "x" }, "not_found", `model "x" is not served here; available models: ${[...registry.models.keys()].join(", ")}`],
  ] as [Partial<RerankInput>, ErrorKind, string][])("%o is rejected", (request, kind, message) => {
    const error = rejection(request);
    expect(error.kind).toBe(kind);
    expect(error.message).toBe(message);
  });
});

describe("rank", () => {
  it("sorts by score descending, ties by index, keeps topN and echoes documents and their windows", () => {
    const scored = {
      scores: Float64Array.from([0.2, 0.9, 0.2, 0.5]),
      truncated: Uint8Array.from([0, 0, 1, 0]),
      windows: Int32Array.from([1, 3, 1, 2]),
      bestWindow: Int32Array.from([0, 2, 0, 1]),
    };
    expect(rank(scored, 0).map((r) => r.index)).toEqual([1, 3, 0, 2]);
    expect(rank(scored, 2, ["a", "b", "c", "d"])).toEqual([
      { index: 1, score: 0.9, document: "b", truncated: false, windows: 3, bestWindow: 2 },
      { index: 3, score: 0.5, document: "d", truncated: false, windows: 2, bestWindow: 1 },
    ]);
  });
});

describe("toScores", () => {
  it("applies the model's transform unless raw scores are asked for", () => {
    const logits = Float32Array.from([0, 2]);
    expect(Array.from(toScores(logits, { transform: "sigmoid" }, false))).toEqual([0.5, 1 / (1 + Math.exp(-2))]);
    expect(Array.from(toScores(logits, { transform: "sigmoid" }, true))).toEqual([0, 2]);
    expect(Array.from(toScores(logits, { transform: "identity" }, false))).toEqual([0, 2]);
    expect(Array.from(toScores(logits, { transform: "sigmoid", center: 2 }, false))).toEqual([1 / (1 + Math.exp(2)), 0.5]);
  });
});
