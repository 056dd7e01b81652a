import type { EncodedRows } from "../tokenization/encoded-rows.js";
import type { InputTensor } from "../triton/client.js";

export interface BatchLayout {
  maxBatchSize: number;
  paddingSide: "left" | "right";
  padTokenId: number;
  names: { inputIds: string; attentionMask: string; tokenTypeIds?: string };
  /** Lengths a batch pads up to, so that Triton can merge concurrent requests of one shape (ascending). */
  lengthBuckets?: readonly number[];
}

/** One ModelInfer call: some of a request's rows, padded to one length. */
export interface TritonBatch {
  /** Indices of the request's rows, in the order of the batch's rows. */
  rows: number[];
  tensors: InputTensor[];
  /** Rows x padded sequence length: the work Triton does for this batch. */
  cells: number;
  /** Real tokens among those cells. */
  tokens: number;
}

const lengthOf = (encoded: EncodedRows, row: number) => encoded.offsets[row + 1]! - encoded.offsets[row]!;

/**
 * Splits a request's rows into Triton batches of at most maxBatchSize rows and pads each batch to its longest row,
 * rounded up to the next length bucket. Rows are grouped by length first so that short rows do not pay for a long
 * neighbour's padding.
 */
export function planBatches(encoded: EncodedRows, layout: BatchLayout): TritonBatch[] {
  const count = encoded.offsets.length - 1;
  const order = Array.from({ length: count }, (_, row) => row).sort(
    (a, b) => lengthOf(encoded, a) - lengthOf(encoded, b) || a - b,
  );
  const batches: TritonBatch[] = [];
  for (let start = 0; start < count; start += layout.maxBatchSize) {
    const rows = order.slice(start, start + layout.maxBatchSize);
    const tensors = buildTensors(encoded, rows, layout);
    const [, seqLen = 0] = tensors[0]!.shape;
    const tokens = rows.reduce((sum, row) => sum + lengthOf(encoded, row), 0);
    batches.push({ rows, tensors, cells: rows.length * seqLen, tokens });
  }
  return batches;
}

/** Writes a non-negative id as little-endian INT64: low word = value, high word = 0 (ids < 2^31). */
function int64Buffer(words: Int32Array): Buffer {
  return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
}

function buildTensors(encoded: EncodedRows, rows: number[], layout: BatchLayout): InputTensor[] {
  const longest = Math.max(...rows.map((row) => lengthOf(encoded, row)));
  const seqLen = layout.lengthBuckets?.find((length) => length >= longest) ?? longest;
  const cells = rows.length * seqLen;
  // Two 32-bit words per INT64 element; zero-filled, so padding masks and segment ids need no writes.
  const ids = new Int32Array(cells * 2);
  const mask = new Int32Array(cells * 2);
  const types = layout.names.tokenTypeIds && encoded.typeIds ? new Int32Array(cells * 2) : undefined;
  if (layout.padTokenId !== 0) for (let cell = 0; cell < cells; cell++) ids[cell * 2] = layout.padTokenId;
  rows.forEach((source, row) => {
    const begin = encoded.offsets[source]!;
    const length = lengthOf(encoded, source);
    const firstCell = row * seqLen + (layout.paddingSide === "left" ? seqLen - length : 0);
    for (let token = 0; token < length; token++) {
      const word = (firstCell + token) * 2;
      ids[word] = encoded.ids[begin + token]!;
      mask[word] = 1;
      if (types) types[word] = encoded.typeIds![begin + token]!;
    }
  });
  const shape = [rows.length, seqLen];
  const tensors: InputTensor[] = [
    { name: layout.names.inputIds, datatype: "INT64", shape, data: int64Buffer(ids) },
    { name: layout.names.attentionMask, datatype: "INT64", shape, data: int64Buffer(mask) },
  ];
  if (types) tensors.push({ name: layout.names.tokenTypeIds!, datatype: "INT64", shape, data: int64Buffer(types) });
  return tensors;
}
