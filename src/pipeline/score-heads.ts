import type { FamilySpec } from "../catalog/families.js";

/** Cosine of row 0 (the query) with every other row; the model's embeddings are already L2-normalized. */
export function cosineToQuery(embeddings: Float32Array, width: number): Float32Array {
  const rows = embeddings.length / width;
  const scores = new Float32Array(rows - 1);
  for (let row = 1; row < rows; row++) {
    let dot = 0;
    for (let i = 0; i < width; i++) dot += embeddings[i]! * embeddings[row * width + i]!;
    scores[row - 1] = dot;
  }
  return scores;
}

/** Each document's score as its best window's (its only row's, unless split). */
export interface WindowedScores {
  readonly scores: Float32Array;
  /** The window (0-based) the score comes from: the first of equal ones. */
  readonly bestWindow: Int32Array;
  /** 1 where any row of the document was cut. */
  readonly truncated: Uint8Array;
}

/** Per document, the best of its rows' raw scores; `windows[i]` rows of document i follow those of document i - 1. */
export function bestOfWindows(rowScores: Float32Array, windows: Int32Array, rowTruncated: Uint8Array): WindowedScores {
  const scores = new Float32Array(windows.length);
  const bestWindow = new Int32Array(windows.length);
  const truncated = new Uint8Array(windows.length);
  let row = 0;
  windows.forEach((count, document) => {
    let best = 0;
    for (let window = 0; window < count; window++) {
      if (rowScores[row + window]! > rowScores[row + best]!) best = window;
      if (rowTruncated[row + window]) truncated[document] = 1;
    }
    scores[document] = rowScores[row + best]!;
    bestWindow[document] = best;
    row += count;
  });
  return { scores, bestWindow, truncated };
}

export interface ScoreHead {
  transform: FamilySpec["score"];
  /** sigmoid(raw - center), as mxbai-rerank-v2's sigmoid_normalize does. Default 0. */
  center?: number;
}

/**
 * Maps raw scores (logits, or cosines for bi-encoders) to the scores a client receives, normalized unless it
 * asked for raw ones.
 */
export function toScores(raw: Float32Array, head: ScoreHead, keepRaw: boolean): Float64Array {
  const scores = Float64Array.from(raw);
  if (keepRaw || head.transform === "identity") return scores;
  const center = head.center ?? 0;
  return scores.map((logit) => 1 / (1 + Math.exp(-(logit - center))));
}
