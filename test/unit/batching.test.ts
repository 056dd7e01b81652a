import { describe, expect, it } from "vitest";
import { BatchAssembler, packBatches, planBatches, type RowRef } from "../../src/pipeline/batching.js";
import type { EncodedRows } from "../../src/tokenization/encoded-rows.js";

/** Pairs of the given token lengths; token values encode (pair, position) so rows can be traced. */
function encoded(lengths: number[], withTypes = true): EncodedRows {
  const offsets = new Int32Array(lengths.length + 1);
  lengths.forEach((length, pair) => (offsets[pair + 1] = offsets[pair]! + length));
  const tokenCount = offsets[lengths.length]!;
  const ids = new Int32Array(tokenCount);
  const typeIds = withTypes ? new Int32Array(tokenCount) : null;
  lengths.forEach((length, pair) => {
    for (let position = 0; position < length; position++) {
      ids[offsets[pair]! + position] = 1000 * (pair + 1) + position;
      if (typeIds) typeIds[offsets[pair]! + position] = position >= length / 2 ? 1 : 0;
    }
  });
  return { ids, typeIds, offsets, truncated: new Uint8Array(lengths.length), queryTruncated: false, tokenCount };
}

/** Reads an INT64 little-endian tensor back as rows of numbers. */
function rows(data: Buffer, shape: number[]): number[][] {
  const [batch, seq] = shape as [number, number];
  return Array.from({ length: batch }, (_, row) =>
    Array.from({ length: seq }, (_, column) => Number(data.readBigInt64LE((row * seq + column) * 8))),
  );
}

const names = { inputIds: "input_ids", attentionMask: "attention_mask", tokenTypeIds: "token_type_ids" };

describe("planBatches", () => {
  it("splits at maxBatchSize, covers every pair once, and pads each batch to its own longest pair", () => {
    const lengths = [5, 2, 9, 3, 6];
    const batches = planBatches(encoded(lengths), { maxBatchSize: 2, paddingSide: "right", padTokenId: 0, names });
    expect(batches.map((batch) => batch.rows)).toEqual([[1, 3], [0, 4], [2]]);
    expect(batches.map((batch) => batch.tensors[0]!.shape)).toEqual([
      [2, 3],
      [2, 6],
      [1, 9],
    ]);
  });

  it("right padding: ids, mask and segment ids line up, pad cells are pad id / 0", () => {
    const [batch] = planBatches(encoded([3, 1]), { maxBatchSize: 8, paddingSide: "right", padTokenId: 7, names });
    const [ids, mask, types] = batch!.tensors.map((tensor) => rows(tensor.data, tensor.shape));
    expect(batch!.rows).toEqual([1, 0]);
    expect(ids).toEqual([
      [2000, 7, 7],
      [1000, 1001, 1002],
    ]);
    expect(mask).toEqual([
      [1, 0, 0],
      [1, 1, 1],
    ]);
    expect(types).toEqual([
      [0, 0, 0],
      [0, 0, 1],
    ]);
    expect(batch!.tensors.map((tensor) => tensor.name)).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
  });

  it("left padding puts every pair's last token in the last column (decoders score that position)", () => {
    const [batch] = planBatches(encoded([3, 1], false), {
      maxBatchSize: 8,
      paddingSide: "left",
      padTokenId: 5,
      names: { inputIds: "input_ids", attentionMask: "attention_mask" },
    });
    const [ids, mask] = batch!.tensors.map((tensor) => rows(tensor.data, tensor.shape));
    expect(ids).toEqual([
      [5, 5, 2000],
      [1000, 1001, 1002],
    ]);
    expect(mask).toEqual([
      [0, 0, 1],
      [1, 1, 1],
    ]);
    expect(batch!.tensors).toHaveLength(2);
  });

  it("pads each batch up to its length bucket, so that concurrent requests share Triton shapes", () => {
    const batches = planBatches(encoded([5, 17, 40, 70]), {
      maxBatchSize: 2,
      paddingSide: "right",
      padTokenId: 0,
      names,
      lengthBuckets: [16, 32, 64],
    });
    // [5, 17] pads to 17 -> bucket 32; [40, 70] pads to 70, past the last bucket: its own length.
    expect(batches.map((batch) => batch.tensors[0]!.shape)).toEqual([
      [2, 32],
      [2, 70],
    ]);
    const [ids, mask] = batches[0]!.tensors.map((tensor) => rows(tensor.data, tensor.shape));
    expect(mask![0]!.filter(Boolean)).toHaveLength(5);
    expect(ids![1]!.slice(17)).toEqual(new Array(15).fill(0));
  });

  it("streams: a length bucket that fills a batch is sent at once; the rest is packed by length at the end", () => {
    const assembler = new BatchAssembler({
      maxBatchSize: 2,
      paddingSide: "right",
      padTokenId: 0,
      names,
      lengthBuckets: [16, 32],
    });
    const first = encoded([20, 5]);
    const second = encoded([30, 40]);
    const refs = (source: EncodedRows, firstSlot: number) => [0, 1].map((row) => ({ source, row, slot: firstSlot + row }));
    expect(assembler.add(refs(first, 0))).toEqual([]);
    // 30 joins 20 in bucket 32: a full batch, sent before the request's last rows arrive.
    const [full, ...none] = assembler.add(refs(second, 2));
    expect(none).toEqual([]);
    expect(full!.rows).toEqual([0, 2]);
    expect(full!.tensors[0]!.shape).toEqual([2, 32]);
    const left = assembler.flush();
    // 5 (bucket 16) and 40 (past the last bucket) never filled a batch: packed together, padded to the longest.
    expect(left.map((batch) => batch.rows)).toEqual([[1, 3]]);
    expect(left[0]!.tensors[0]!.shape).toEqual([2, 40]);
    expect(assembler.flush()).toEqual([]);
  });
});

describe("packBatches", () => {
  const layout = { maxBatchSize: 4, paddingSide: "right" as const, padTokenId: 0, names, lengthBuckets: [16, 32, 64, 128] };
  const sortedRefs = (lengths: number[]): RowRef[] => {
    const source = encoded([...lengths].sort((a, b) => a - b));
    return lengths.map((_, row) => ({ source, row, slot: row }));
  };
  const lengthsOf = (batches: RowRef[][]) =>
    batches.map((batch) => batch.map(({ source, row }) => source.offsets[row + 1]! - source.offsets[row]!));
  const bucket = (length: number) => layout.lengthBuckets.find((edge) => edge >= length) ?? length;
  /** Padded cells of the batches plus the per-call price, the quantity packBatches minimises. */
  const price = (batches: number[][], perCall: number) =>
    batches.reduce((total, batch) => total + batch.length * bucket(Math.max(...batch)) + perCall, 0);

  it("keeps rows of similar length in one batch and cuts where the padding saved outweighs a call", () => {
    expect(lengthsOf(packBatches(sortedRefs([10, 20, 30]), layout))).toEqual([[10, 20, 30]]);
    const mixed = [5, 6, 7, 8, 9, 10, 11, 12, 300, 301];
    const batches = lengthsOf(packBatches(sortedRefs(mixed), { ...layout, maxBatchSize: 8 }));
    expect(batches).toEqual([
      [5, 6, 7, 8, 9, 10, 11, 12],
      [300, 301],
    ]);
  });

  it("finds the cheapest cut: equal to an exhaustive search over every cut set", () => {
    let seed = 11;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let trial = 0; trial < 200; trial++) {
      const lengths = Array.from({ length: 1 + Math.floor(random() * 9) }, () => 1 + Math.floor(random() * 400)).sort(
        (a, b) => a - b,
      );
      const packed = lengthsOf(packBatches(sortedRefs(lengths), layout));
      expect(packed.flat()).toEqual(lengths);
      expect(packed.every((batch) => batch.length <= layout.maxBatchSize)).toBe(true);
      let best = Infinity;
      for (let cuts = 0; cuts < 2 ** (lengths.length - 1); cuts++) {
        const batches: number[][] = [[lengths[0]!]];
        for (let index = 1; index < lengths.length; index++) {
          if (cuts & (1 << (index - 1))) batches.push([]);
          batches.at(-1)!.push(lengths[index]!);
        }
        if (batches.every((batch) => batch.length <= layout.maxBatchSize)) best = Math.min(best, price(batches, 512));
      }
      expect(price(packed, 512)).toBe(best);
    }
  });
});
