/**
 * A request's documents in chunks of consecutive documents, bounded by count and by bytes: the pool tokenizes a
 * chunk at a time per thread, so that a small request waits behind at most one chunk of a large one, and the
 * pipeline can start inference on the first chunk while later ones are tokenized.
 */
import type { EncodedRows } from "./encoded-rows.js";

export interface ChunkLimits {
  /** Most documents per chunk. */
  readonly documents: number;
  /** Most UTF-8 bytes of documents per chunk (a chunk holds at least one document, however large). */
  readonly bytes: number;
}

/**
 * About 4 ms of tokenization per chunk on one core for msmarco passages with bert-base-uncased (32 passages,
 * ~2,800 tokens), against ~0.1 ms of dispatch per chunk; 64 KiB bounds a chunk of long documents the tokenizer
 * cannot cut (precut.ts).
 */
export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { documents: 32, bytes: 64 * 1024 };

/** Documents [start, end) of the request. */
export interface ChunkRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The chunks of a request, in document order, covering every document once. Every chunk tokenizes the query
 * again, so a query over the byte bound keeps the request in one chunk: repeating it would cost more than
 * waiting. A request without documents is one empty chunk (a bi-encoder's still has the query's row).
 */
export function planChunks(
  query: string,
  documents: readonly string[],
  limits: ChunkLimits = DEFAULT_CHUNK_LIMITS,
): ChunkRange[] {
  if (!Number.isInteger(limits.documents) || limits.documents < 1 || !(limits.bytes > 0)) {
    throw new RangeError(`chunk limits must be at least 1 document and 1 byte, got ${JSON.stringify(limits)}`);
  }
  if (documents.length === 0 || Buffer.byteLength(query) > limits.bytes) {
    return [{ start: 0, end: documents.length }];
  }
  const chunks: ChunkRange[] = [];
  let start = 0;
  let bytes = 0;
  documents.forEach((document, index) => {
    const size = Buffer.byteLength(document);
    if (index > start && (index - start >= limits.documents || bytes + size > limits.bytes)) {
      chunks.push({ start, end: index });
      start = index;
      bytes = 0;
    }
    bytes += size;
  });
  chunks.push({ start, end: documents.length });
  return chunks;
}

/** `promise`, marked as handled: a chunk nobody awaits (its request failed on another) must not crash the process. */
export function settled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * One request's rows from its chunks' rows, in order: what encodeRows returns. Chunks of a bi-encoder each start
 * with the query's row; the first chunk's is kept.
 */
export function concatChunks(chunks: readonly EncodedRows[], startsWithQueryRow: boolean): EncodedRows {
  const [first] = chunks;
  if (!first) {
    throw new RangeError("a request has at least one chunk");
  }
  if (chunks.length === 1) {
    return first;
  }
  const firstRowOf = (index: number) => (startsWithQueryRow && index > 0 ? 1 : 0);
  const firstTokenOf = (chunk: EncodedRows, index: number) => chunk.offsets[firstRowOf(index)] ?? 0;
  const rowCount = chunks.reduce((sum, chunk, index) => sum + chunk.truncated.length - firstRowOf(index), 0);
  const tokenCount = chunks.reduce((sum, chunk, index) => sum + chunk.tokenCount - firstTokenOf(chunk, index), 0);
  const ids = new Int32Array(tokenCount);
  const typeIds = first.typeIds ? new Int32Array(tokenCount) : null;
  const offsets = new Int32Array(rowCount + 1);
  const truncated = new Uint8Array(rowCount);
  const windows = first.windows ? concatWindows(chunks) : undefined;
  let token = 0;
  let row = 0;
  chunks.forEach((chunk, index) => {
    const from = firstTokenOf(chunk, index);
    ids.set(chunk.ids.subarray(from), token);
    if (chunk.typeIds) typeIds?.set(chunk.typeIds.subarray(from), token);
    for (let source = firstRowOf(index); source < chunk.truncated.length; source++, row++) {
      truncated[row] = chunk.truncated[source] ?? 0;
      offsets[row + 1] = token + (chunk.offsets[source + 1] ?? 0) - from;
    }
    token += chunk.tokenCount - from;
  });
  const queryTruncated = chunks.some((chunk) => chunk.queryTruncated);
  return { ids, typeIds, offsets, truncated, queryTruncated, tokenCount, ...(windows && { windows }) };
}

function concatWindows(chunks: readonly EncodedRows[]): Int32Array {
  const windows = new Int32Array(chunks.reduce((sum, chunk) => sum + (chunk.windows?.length ?? 0), 0));
  let document = 0;
  for (const chunk of chunks) {
    windows.set(chunk.windows ?? [], document);
    document += chunk.windows?.length ?? 0;
  }
  return windows;
}
