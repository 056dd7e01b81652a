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
  /** Output slot of each of the batch's rows, in order (the row's index in the request). */
  rows: number[];
  tensors: InputTensor[];
  /** Rows x padded sequence length: the work Triton does for this batch. */
  cells: number;
  /** Real tokens among those cells. */
  tokens: number;
}

/** One tokenized row, wherever it came from (a chunk of the request), and the output slot its score goes to. */
export interface RowRef {
  readonly source: EncodedRows;
  readonly row: number;
  readonly slot: number;
}

const lengthOf = ({ source, row }: Pick<RowRef, "source" | "row">) => source.offsets[row + 1]! - source.offsets[row]!;
const byLength = (a: RowRef, b: RowRef) => lengthOf(a) - lengthOf(b) || a.slot - b.slot;

/** The length a row pads to on its own: its bucket, or its own length past the last bucket. */
function paddedLength(length: number, layout: BatchLayout): number {
  return layout.lengthBuckets?.find((bucket) => bucket >= length) ?? length;
}

/**
 * Forms Triton batches as a request's rows arrive (chunk by chunk from the tokenizer), so that inference starts
 * before tokenization ends. Rows wait per length bucket; a bucket that fills a whole batch (maxBatchSize rows) is
 * sent at once, with no padding past its bucket. What is left at the end is sorted by length and cut into batches of
 * at most maxBatchSize (packBatches), each padded to its longest row's bucket.
 */
export class BatchAssembler {
  private readonly waiting = new Map<number, RowRef[]>();

  constructor(private readonly layout: BatchLayout) {}

  /** Takes rows; returns the batches they complete. */
  add(rows: readonly RowRef[]): TritonBatch[] {
    const ready: TritonBatch[] = [];
    for (const row of rows) {
      const bucket = paddedLength(lengthOf(row), this.layout);
      const waiting = this.waiting.get(bucket) ?? [];
      waiting.push(row);
      if (waiting.length < this.layout.maxBatchSize) {
        this.waiting.set(bucket, waiting);
      } else {
        this.waiting.delete(bucket);
        ready.push(buildBatch(waiting.sort(byLength), this.layout));
      }
    }
    return ready;
  }

  /** The batches of every row still waiting: called once all rows were added. */
  flush(): TritonBatch[] {
    const left = [...this.waiting.values()].flat().sort(byLength);
    this.waiting.clear();
    return packBatches(left, this.layout).map((rows) => buildBatch(rows, this.layout));
  }
}

/**
 * What a Triton call costs beyond its cells, counted in padded cells: the price of cutting a batch in two. Chosen
 * on the mixed workload of bench/mixed.ts (msmarco passages and 256+-token documents, 5-500 per request, batches
 * of 32): cutting by length alone into full batches padded 16% of the cells; at 512 the cut pads 11% for 20% more
 * calls, at 0 (a batch per bucket) 9.5% for 84% more.
 */
const CALL_OVERHEAD_CELLS = 512;

/**
 * Cuts rows sorted by length into consecutive batches of at most maxBatchSize that minimise the padded cells plus
 * CALL_OVERHEAD_CELLS per batch (exact, by dynamic programming over the cut points: O(rows x maxBatchSize)).
 * A small request of similar lengths stays one batch; a request spanning short and long rows is cut where the
 * padding saved outweighs a call.
 */
export function packBatches(sorted: readonly RowRef[], layout: BatchLayout): RowRef[][] {
  const count = sorted.length;
  const cost = new Float64Array(count + 1).fill(Infinity);
  const cutBefore = new Int32Array(count + 1);
  cost[0] = 0;
  for (let end = 1; end <= count; end++) {
    const seqLen = paddedLength(lengthOf(sorted[end - 1]!), layout);
    for (let start = Math.max(0, end - layout.maxBatchSize); start < end; start++) {
      const total = cost[start]! + (end - start) * seqLen + CALL_OVERHEAD_CELLS;
      if (total < cost[end]!) {
        cost[end] = total;
        cutBefore[end] = start;
      }
    }
  }
  const batches: RowRef[][] = [];
  for (let end = count; end > 0; end = cutBefore[end]!) batches.unshift(sorted.slice(cutBefore[end], end));
  return batches;
}

/** Every row of one request's rows as Triton batches (the whole request at once); slots are row indices. */
export function planBatches(encoded: EncodedRows, layout: BatchLayout): TritonBatch[] {
  const assembler = new BatchAssembler(layout);
  const rows = Array.from({ length: encoded.offsets.length - 1 }, (_, row) => ({ source: encoded, row, slot: row }));
  return [...assembler.add(rows), ...assembler.flush()];
}

/** Writes a non-negative id as little-endian INT64: low word = value, high word = 0 (ids < 2^31). */
function int64Buffer(words: Int32Array): Buffer {
  return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
}

function buildBatch(rows: readonly RowRef[], layout: BatchLayout): TritonBatch {
  const seqLen = paddedLength(Math.max(...rows.map(lengthOf)), layout);
  const cells = rows.length * seqLen;
  // Two 32-bit words per INT64 element; zero-filled, so padding masks and segment ids need no writes.
  const ids = new Int32Array(cells * 2);
  const mask = new Int32Array(cells * 2);
  const types = layout.names.tokenTypeIds && rows[0]?.source.typeIds ? new Int32Array(cells * 2) : undefined;
  if (layout.padTokenId !== 0) for (let cell = 0; cell < cells; cell++) ids[cell * 2] = layout.padTokenId;
  let tokens = 0;
  rows.forEach((ref, row) => {
    const { source } = ref;
    const begin = source.offsets[ref.row]!;
    const length = lengthOf(ref);
    tokens += length;
    const firstCell = row * seqLen + (layout.paddingSide === "left" ? seqLen - length : 0);
    for (let token = 0; token < length; token++) {
      const word = (firstCell + token) * 2;
      ids[word] = source.ids[begin + token]!;
      mask[word] = 1;
      if (types) types[word] = source.typeIds![begin + token]!;
    }
  });
  const shape = [rows.length, seqLen];
  const tensors: InputTensor[] = [
    { name: layout.names.inputIds, datatype: "INT64", shape, data: int64Buffer(ids) },
    { name: layout.names.attentionMask, datatype: "INT64", shape, data: int64Buffer(mask) },
  ];
  if (types) tensors.push({ name: layout.names.tokenTypeIds!, datatype: "INT64", shape, data: int64Buffer(types) });
  return { rows: rows.map((ref) => ref.slot), tensors, cells, tokens };
}
