import type { ModelSpec } from "./registry.js";

/**
 * Maps raw scores to the scores a client receives, normalized unless it asked for raw ones: sigmoid of the
 * logit (shifted by scoreCenter, as mxbai-rerank-v2's sigmoid_normalize does) or the raw value (cosine).
 */
export function toScores(logits: Float32Array, model: Pick<ModelSpec, "score" | "scoreCenter">, raw: boolean): Float64Array {
  const scores = Float64Array.from(logits);
  if (raw || model.score === "identity") return scores;
  const center = model.scoreCenter ?? 0;
  return scores.map((logit) => 1 / (1 + Math.exp(-(logit - center))));
}
