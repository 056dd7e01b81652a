/** One document's place in the answer. */
export interface RankedDocument {
  /** Position of the document in the request. */
  index: number;
  score: number;
  /** The document's text, when the client asked for it back. */
  document?: string;
  /** True when the pair was cut to the model's maximum length before scoring. */
  truncated: boolean;
  /** Windows the document was scored in (long documents split: more than 1). */
  windows: number;
  /** The window whose score is the document's. */
  bestWindow: number;
}

/** What the pipeline says of each document, in request order. */
export interface DocumentScores {
  readonly scores: Float64Array;
  readonly truncated: Uint8Array;
  readonly windows: Int32Array;
  readonly bestWindow: Int32Array;
}

/**
 * Orders documents by score, highest first; equal scores keep first-stage order (lower index first), so
 * results are deterministic. Keeps the best topN (0 = all).
 */
export function rank(scored: DocumentScores, topN: number, documents?: string[]): RankedDocument[] {
  const { scores, truncated, windows, bestWindow } = scored;
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept = topN > 0 ? order.slice(0, topN) : order;
  return kept.map((index) => ({
    index,
    score: scores[index]!,
    document: documents?.[index],
    truncated: truncated[index] === 1,
    windows: windows[index]!,
    bestWindow: bestWindow[index]!,
  }));
}
