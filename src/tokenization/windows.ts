/**
 * long_documents=split_max: a document too long to pair whole with the query is read in windows of its ids (its
 * family's document ids, prefix included, as the reference tokenizes them), each as long as fits beside the query,
 * consecutive windows sharing the model's windowOverlap of a window. The document's score is its best window's.
 */
import { GatewayError } from "../errors.js";

/** What a request asks of split_max, besides the model's overlap. */
export interface SplitOptions {
  /** Tokens of each document kept before windowing (the rest dropped, the result marked truncated); 0: all. */
  readonly maxTokensPerDocument: number;
  /** Most windows (rows) the request's documents may make together. */
  readonly maxWindows: number;
}

/** Ids [start, end) of a document. */
export interface WindowSpan {
  readonly start: number;
  readonly end: number;
}

/** Tokens that consecutive windows of `windowTokens` share: `overlap` of a window, rounded down. */
export function overlapTokens(windowTokens: number, overlap: number): number {
  return Math.floor(windowTokens * overlap);
}

/** Where the window after `span` starts: `overlap` tokens before its end, and at least one token after its start. */
export function nextWindowStart(span: WindowSpan, overlap: number): number {
  return Math.max(span.start + 1, span.end - overlap);
}

/** The windows of a document of `length` ids: at most `windowTokens` each, the last one ending at the document's end. */
export function windowSpans(length: number, windowTokens: number, overlap: number): WindowSpan[] {
  if (!Number.isInteger(windowTokens) || windowTokens < 1) {
    throw new RangeError(`a window holds at least one token, got ${windowTokens}`);
  }
  const spans: WindowSpan[] = [];
  for (let start = 0; ;) {
    const span = { start, end: Math.min(length, start + windowTokens) };
    spans.push(span);
    if (span.end >= length) return spans;
    start = nextWindowStart(span, overlap);
  }
}

/** The refusal of a request whose documents make more windows than the gateway scores per request. */
export function tooManyWindows(windows: number, maxWindows: number): GatewayError {
  return new GatewayError(
    "invalid",
    `long_documents=split_max: the documents make at least ${windows} windows, over the limit of ${maxWindows} per ` +
      `request; set max_tokens_per_document to score fewer tokens of each document, or send fewer documents`,
  );
}
