import type { TruncationStrategy } from "../catalog/families.js";
import type { ResolvedTemplate } from "./templates.js";
import { truncatePairLengths, type PartIds, type TokenIds } from "./truncation.js";

/**
 * The tokenized rows of one request, in flat typed arrays: a worker transfers them without copying and the
 * batcher copies rows straight into Triton's INT64 tensors. A row is a (query, document) pair, or for
 * bi-encoders one text: row 0 the query, then the documents. Row i occupies [offsets[i], offsets[i + 1]) of
 * `ids` and `typeIds`; its attention mask is all ones over that range (padding is the batcher's job).
 */
export interface EncodedRows {
  readonly ids: Int32Array;
  /** Null for families whose model takes no token_type_ids. */
  readonly typeIds: Int32Array | null;
  /** rowCount + 1 entries, starting at 0. */
  readonly offsets: Int32Array;
  /** 1 where the row lost query or document tokens: to the family's caps or to truncation. */
  readonly truncated: Uint8Array;
  /** Whether the query lost tokens, in any row. */
  readonly queryTruncated: boolean;
  /** Tokens of all rows after truncation (= ids.length). */
  readonly tokenCount: number;
  /**
   * Rows of each document, in order, where documents were split into windows (long_documents=split_max): document
   * i's rows follow document i - 1's (after a bi-encoder's query row). Absent: one row per document.
   */
  readonly windows?: Int32Array;
}

/** The buffers to list in postMessage's transfer list. */
export function transferables(rows: EncodedRows): ArrayBuffer[] {
  const arrays = [rows.ids, rows.typeIds, rows.offsets, rows.truncated, rows.windows];
  return arrays.flatMap((array) => (array ? [array.buffer as ArrayBuffer] : []));
}

/** Tokens left for query + document (or a bi-encoder's text) once the template's fixed pieces are counted. */
export function contentBudget(template: ResolvedTemplate, maxLength: number): number {
  const budget = maxLength - template.budgetOverhead;
  if (!Number.isInteger(maxLength) || budget < 1) {
    throw new RangeError(
      `maxLength ${maxLength} leaves no room for content: template '${template.family}' counts ` +
        `${template.budgetOverhead} fixed tokens against it`,
    );
  }
  return budget;
}

/**
 * Lays out each (query, document) pair with the family template and truncates it to the content budget,
 * giving the ids the family's reference feeds its model. Parts are ids without special tokens, already
 * capped where the family caps them; the query's are shared by every pair of the request.
 */
export function assemblePairs(
  template: ResolvedTemplate,
  query: PartIds,
  documents: readonly PartIds[],
  maxLength: number,
  truncation: TruncationStrategy,
): EncodedRows {
  const budget = contentBudget(template, maxLength);
  const rows = documents.map((document): RowLayout => {
    const kept = truncatePairLengths({ query: query.ids.length, document: document.ids.length }, budget, truncation);
    return {
      first: query.ids.slice(0, kept.query),
      second: document.ids.slice(0, kept.document),
      truncated: query.cut || document.cut || kept.truncated,
    };
  });
  const queryTruncated = query.cut || rows.some((row) => row.first.length < query.ids.length);
  return { ...packRows(template, rows), queryTruncated };
}

/**
 * Lays out each text alone (bi-encoders): row 0 is the query, then the documents (or their windows), each cut to
 * the content budget.
 */
export function assembleTexts(template: ResolvedTemplate, texts: readonly PartIds[], maxLength: number): EncodedRows {
  const budget = contentBudget(template, maxLength);
  const rows = texts.map(({ ids, cut }): RowLayout => ({
    first: ids.slice(0, budget),
    second: [],
    truncated: cut || ids.length > budget,
  }));
  return { ...packRows(template, rows), queryTruncated: rows[0]?.truncated ?? false };
}

/** One row's kept ids per slot of the template. */
interface RowLayout {
  readonly first: TokenIds;
  readonly second: TokenIds;
  readonly truncated: boolean;
}

function packRows(template: ResolvedTemplate, rows: readonly RowLayout[]): Omit<EncodedRows, "queryTruncated"> {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((row, index) => {
    offsets[index + 1] = (offsets[index] ?? 0) + row.first.length + row.second.length + template.fixedTokenCount;
  });
  const tokenCount = offsets[rows.length] ?? 0;
  const ids = new Int32Array(tokenCount);
  const typeIds = template.usesTokenTypeIds ? new Int32Array(tokenCount) : null;
  let position = 0;
  for (const row of rows) {
    for (const piece of template.pieces) {
      const pieceIds = piece.kind === "fixed" ? piece.ids : row[piece.kind];
      ids.set(pieceIds, position);
      typeIds?.fill(piece.typeId, position, position + pieceIds.length);
      position += pieceIds.length;
    }
  }
  const truncated = Uint8Array.from(rows, (row) => (row.truncated ? 1 : 0));
  return { ids, typeIds, offsets, truncated, tokenCount };
}
