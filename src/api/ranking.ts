import type { RerankResult } from "../gen/rerank/v1/rerank.js";

/**
 * Orders documents by score, highest first; equal scores keep first-stage order (lower index first), so
 * results are deterministic. Keeps the best topN (0 = all).
 */
export function rank(scores: Float64Array, truncated: Uint8Array, topN: number, documents?: string[]): RerankResult[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept = topN > 0 ? order.slice(0, topN) : order;
  return kept.map((index) => ({
    index,
    score: scores[index]!,
    document: documents?.[index],
    truncated: truncated[index] === 1,
  }));
}
