import type { ResolvedTemplate } from "./templates.js";
import { truncatePairLengths, type TruncationStrategy } from "./truncation.js";

/**
 * The tokenized (query, document) pairs of one request, in flat typed arrays: a worker transfers them
 * without copying and the batcher copies rows straight into Triton's INT64 tensors.
 * Pair i occupies [offsets[i], offsets[i + 1]) of `ids` and `typeIds`; its attention mask is all ones
 * over that range (padding is the batcher's job).
 */
export interface EncodedBatch {
  readonly ids: Int32Array;
  /** Null for families whose model takes no token_type_ids. */
  readonly typeIds: Int32Array | null;
  /** pairCount + 1 entries, starting at 0. */
  readonly offsets: Int32Array;
  /** 1 where the pair was over maxLength and got truncated. */
  readonly truncated: Uint8Array;
  /** Tokens of all pairs after truncation (= ids.length). */
  readonly tokenCount: number;
}

/** The buffers to list in postMessage's transfer list. */
export function transferables(batch: EncodedBatch): ArrayBuffer[] {
  const arrays = [batch.ids, batch.typeIds, batch.offsets, batch.truncated];
  return arrays.flatMap((array) => (array ? [array.buffer as ArrayBuffer] : []));
}

/** Tokens left for query + document once the template's special tokens are in. */
export function contentBudget(template: ResolvedTemplate, maxLength: number): number {
  const budget = maxLength - template.specialTokenCount;
  if (!Number.isInteger(maxLength) || budget < 1) {
    throw new RangeError(
      `maxLength ${maxLength} leaves no room for content: template '${template.name}' adds ` +
        `${template.specialTokenCount} special tokens`,
    );
  }
  return budget;
}

/**
 * Lays out each (query, document) pair with the family template and truncates it to `maxLength` tokens,
 * giving the ids HF `tokenizer.encode(query, document)` gives with truncation enabled. Inputs are ids
 * produced without special tokens; the query's are shared by every pair of the request.
 */
export function assemblePairs(
  template: ResolvedTemplate,
  queryIds: ArrayLike<number>,
  documentIds: readonly ArrayLike<number>[],
  maxLength: number,
  truncation: TruncationStrategy,
): EncodedBatch {
  const budget = contentBudget(template, maxLength);
  const pairCount = documentIds.length;
  const kept = documentIds.map((document) =>
    truncatePairLengths({ query: queryIds.length, document: document.length }, budget, truncation),
  );
  const offsets = new Int32Array(pairCount + 1);
  const truncated = new Uint8Array(pairCount);
  kept.forEach((lengths, pair) => {
    offsets[pair + 1] = at(offsets, pair) + lengths.query + lengths.document + template.specialTokenCount;
    truncated[pair] = lengths.truncated ? 1 : 0;
  });

  const tokenCount = at(offsets, pairCount);
  const ids = new Int32Array(tokenCount);
  const typeIds = template.usesTypeIds ? new Int32Array(tokenCount) : null;
  let position = 0;
  const write = (id: number, typeId: number): void => {
    ids[position] = id;
    if (typeIds) {
      typeIds[position] = typeId;
    }
    position += 1;
  };
  const writeSequence = (source: ArrayLike<number>, count: number, typeId: number): void => {
    for (let index = 0; index < count; index += 1) {
      write(at(source, index), typeId);
    }
  };
  kept.forEach((lengths, pair) => {
    for (const piece of template.pieces) {
      if (piece.kind === "special") {
        write(piece.id, piece.typeId);
      } else if (piece.kind === "query") {
        writeSequence(queryIds, lengths.query, piece.typeId);
      } else {
        writeSequence(at(documentIds, pair), lengths.document, piece.typeId);
      }
    }
  });
  return { ids, typeIds, offsets, truncated, tokenCount };
}

/** Indexing within bounds that noUncheckedIndexedAccess cannot see. */
function at<T>(items: ArrayLike<T>, index: number): T {
  return items[index] as T;
}
