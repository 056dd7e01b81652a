import type { ScoreTransform } from "./registry.js";

const sigmoid = (logit: number) => 1 / (1 + Math.exp(-logit));

/** Maps raw logits to the scores a client receives (normalized unless it asked for raw logits). */
export function toScores(logits: Float32Array, transform: ScoreTransform, raw: boolean): Float64Array {
  const scores = Float64Array.from(logits);
  if (raw || transform === "identity") return scores;
  return scores.map(sigmoid);
}
