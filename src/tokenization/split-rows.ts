/**
 * The rows of a long_documents=split_max request: one row per window of a document's ids (windows.ts), each paired
 * with the query the way the family's reference pairs a document part. A window is as long as fits beside the query
 * as pairing keeps it next to a long part, so a document no longer than that is one window, paired exactly as
 * without splitting.
 */
import type { TruncationStrategy } from "../catalog/families.js";
import { assemblePairs, assembleTexts, type EncodedRows } from "./encoded-rows.js";
import type { ResolvedTemplate } from "./templates.js";
import { keepFirst, queryBesideWindows, type PartIds, type TokenIds } from "./truncation.js";
import { nextWindowStart, overlapTokens, tooManyWindows, windowSpans, type SplitOptions, type WindowSpan } from "./windows.js";

/** What a model's split rows depend on besides the request. */
export interface SplitLayout {
  readonly template: ResolvedTemplate;
  readonly maxLength: number;
  readonly truncation: TruncationStrategy;
  /** Query + document tokens of a row (a bi-encoder text's tokens). */
  readonly budget: number;
  /** Most document ids a row holds: the family's document cap (Infinity where none). */
  readonly documentCap: number;
  /** The model's windowOverlap: the share of a window the next one repeats. */
  readonly overlap: number;
  /**
   * FlagReranker's round trip of a document part (decoded and tokenized again) before pairing; absent for the
   * families that pair ids as they are.
   */
  readonly roundTrip?: (parts: readonly TokenIds[]) => Promise<TokenIds[]>;
}

/**
 * The rows of every document (a bi-encoder's query row first) and how many rows each document has. `documents` are
 * each document's ids as its family tokenizes them (prefix included, nothing capped), at least the first
 * maxTokensPerDocument + 1 of them, or enough that their windows pass maxWindows.
 */
export async function splitRows(
  layout: SplitLayout,
  query: PartIds,
  documents: readonly TokenIds[],
  split: SplitOptions,
): Promise<EncodedRows> {
  const { template, budget, documentCap, roundTrip } = layout;
  const texts = template.rows === "texts";
  const kept = documents.map((ids) => keepFirst(ids, split.maxTokensPerDocument || Infinity));
  const queryTokens = texts ? 0 : queryBesideWindows(query.ids.length, budget, layout.truncation);
  const windowTokens = Math.min(budget - queryTokens, documentCap);
  const overlap = overlapTokens(windowTokens, layout.overlap);
  const spans = kept.map((document) => windowSpans(document.ids.length, windowTokens, overlap));
  // A round trip only ever adds windows: the planned ones are already too many.
  checkWindowCount(spans, split.maxWindows);
  const windows = roundTrip
    ? await roundTripWindows(kept, windowTokens, overlap, roundTrip)
    : kept.map((document, index) =>
        spans[index]!.map(({ start, end }) => ({ ids: document.ids.slice(start, end), cut: document.cut })),
      );
  checkWindowCount(windows, split.maxWindows);
  const counts = Int32Array.from(windows, (parts) => parts.length);
  if (texts) {
    return { ...assembleTexts(template, [query, ...windows.flat()], layout.maxLength), windows: counts };
  }
  return { ...assemblePairs(template, query, windows.flat(), layout.maxLength, layout.truncation), windows: counts };
}

function checkWindowCount(windows: readonly (readonly unknown[])[], maxWindows: number): void {
  const count = windows.reduce((sum, parts) => sum + parts.length, 0);
  if (count > maxWindows) throw tooManyWindows(count, maxWindows);
}

/** One window being fitted: document `index`'s ids [start, end). */
interface OpenWindow extends WindowSpan {
  readonly index: number;
}

/**
 * Windows of documents whose family's reference decodes a part and tokenizes it again before pairing: the round
 * trip may give a window more ids than fit (a window that starts inside a word gains a word-start piece), which the
 * pair's truncation would drop. Such a window takes fewer ids until its round trip fits, and the next window starts
 * the overlap before where it ended, so every id is still in some window. All documents' next windows go through
 * one round trip at a time.
 */
async function roundTripWindows(
  documents: readonly PartIds[],
  windowTokens: number,
  overlap: number,
  roundTrip: NonNullable<SplitLayout["roundTrip"]>,
): Promise<PartIds[][]> {
  const windows = documents.map((): PartIds[] => []);
  const windowAt = (index: number, start: number): OpenWindow => ({
    index,
    start,
    end: Math.min(documents[index]!.ids.length, start + windowTokens),
  });
  let open = documents.map((_, index) => windowAt(index, 0));
  while (open.length > 0) {
    const encoded = await roundTrip(open.map(({ index, start, end }) => documents[index]!.ids.slice(start, end)));
    open = open.flatMap((window, position): OpenWindow[] => {
      const ids = encoded[position] ?? [];
      const { index, start, end } = window;
      if (ids.length > windowTokens && end - start > 1) {
        return [{ index, start, end: Math.max(start + 1, end - (ids.length - windowTokens)) }];
      }
      const document = documents[index]!;
      windows[index]!.push({ ids, cut: document.cut });
      return end < document.ids.length ? [windowAt(index, nextWindowStart(window, overlap))] : [];
    });
  }
  return windows;
}
