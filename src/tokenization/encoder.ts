import { isFamily, TRUNCATION_STRATEGIES, type Family, type TruncationStrategy } from "../catalog/families.js";
import { DEFAULT_WINDOW_OVERLAP } from "../catalog/registry.js";
import { planChunks, settled, type ChunkLimits } from "./chunks.js";
import { assemblePairs, assembleTexts, contentBudget, type EncodedRows } from "./encoded-rows.js";
import { loadNativeTokenizer } from "./native-tokenizer.js";
import { encodeLeading } from "./precut.js";
import { splitRows, type SplitLayout } from "./split-rows.js";
import { resolveTemplate, type ResolvedTemplate } from "./templates.js";
import type { DocumentIds } from "./token-cache.js";
import type { PieceTokenizer } from "./tokenizer.js";
import { keepFirst, type PartIds, type TokenIds } from "./truncation.js";
import type { SplitOptions } from "./windows.js";

/** How one model tokenizes: its registry tokenizer, family (the template), maxLength, truncation and query cap. */
export interface TokenizationSpec {
  /** Path of a Hugging Face tokenizer.json. */
  readonly tokenizerFile: string;
  readonly family: Family;
  /**
   * Most tokens of a row, counting the fixed pieces inside truncation: all of them for encoders; for decoder
   * rerankers the reference's max_length, which its prompt pieces are added to.
   */
  readonly maxLength: number;
  readonly truncation: TruncationStrategy;
  /** Most query tokens, for the families that cap the query before pairing it (the reference's max_length * 3 // 4). */
  readonly queryMaxLength?: number;
  /** long_documents=split_max: the share of a window that the next window repeats (registry.ts windowOverlap). */
  readonly windowOverlap?: number;
}

export interface ChunkOptions {
  /** Chunks not started when it aborts reject with its reason (the pool's; the in-thread encoder starts all). */
  readonly signal?: AbortSignal;
  /** Most documents and bytes of documents per chunk (chunks.ts DEFAULT_CHUNK_LIMITS). */
  readonly limits?: ChunkLimits;
  /** Split long documents into windows (long_documents=split_max) instead of truncating them. */
  readonly split?: SplitOptions;
}

/** Turns a request's query and documents into a model's rows; the pool and the in-thread encoder both do. */
export interface RowEncoder {
  encodeRows(spec: TokenizationSpec, query: string, documents: readonly string[], split?: SplitOptions): Promise<EncodedRows>;
  /**
   * The same rows as chunks of consecutive documents (chunks.ts planChunks), one promise per chunk in document
   * order, so that inference can start on the first chunk while later ones are tokenized; a bi-encoder chunk
   * starts with the query's row, as encodeRows' rows do. A chunk that is not awaited never rejects unhandled.
   */
  encodeChunks(
    spec: TokenizationSpec,
    query: string,
    documents: readonly string[],
    options?: ChunkOptions,
  ): Promise<EncodedRows>[];
}

/**
 * What encodeKnown gives: the rows and the parts of the documents it tokenized (for the pool's cache), or the
 * documents whose text it needs because their known part holds too few ids for this query.
 */
export type KnownEncoding =
  { readonly rows: EncodedRows; readonly tokenized: ReadonlyMap<number, DocumentIds> } | { readonly missing: readonly number[] };

/** Most ids kept of the query and of each document before pairing, for the families that cap them. */
interface PartCaps {
  readonly query: number;
  readonly document: number;
}

interface PreparedSpec {
  readonly tokenizer: PieceTokenizer;
  readonly template: ResolvedTemplate;
  readonly caps: PartCaps | null;
  /** Query + document tokens of a row (or a bi-encoder text's). */
  readonly budget: number;
}

/**
 * Encodes a request's rows in the calling thread; each pool worker runs one. A tokenizer is loaded once per
 * file and kept, as is each family template resolved against it (its fixed texts tokenized once).
 */
export class PairEncoder implements RowEncoder {
  private readonly tokenizers = new Map<string, PieceTokenizer>();
  private readonly templates = new Map<string, Promise<ResolvedTemplate>>();

  /**
   * `cutTexts: false` tokenizes every text whole and keeps all its ids, as the encoder did before precut.ts: the
   * reference the tests hold the cutting path to.
   */
  constructor(
    private readonly loadTokenizer: (tokenizerFile: string) => PieceTokenizer = loadNativeTokenizer,
    private readonly options: { readonly cutTexts?: boolean } = {},
  ) {}

  /** Loads and checks what `spec` needs, so that a bad tokenizer file or length fails at start-up. */
  async prepare(spec: TokenizationSpec): Promise<void> {
    await this.prepared(spec);
  }

  async encodeRows(spec: TokenizationSpec, query: string, documents: readonly string[], split?: SplitOptions) {
    const encoding = await this.encodeKnown(spec, query, documents, new Map(), split);
    if ("missing" in encoding) {
      throw new Error("unreachable: every document's text was given");
    }
    return encoding.rows;
  }

  encodeChunks(spec: TokenizationSpec, query: string, documents: readonly string[], options: ChunkOptions = {}) {
    return planChunks(query, documents, options.limits).map(({ start, end }) =>
      settled(this.encodeRows(spec, query, documents.slice(start, end), options.split)),
    );
  }

  /**
   * Encodes a request of which some documents' parts are known already (the pool's cache): `known` by document
   * index, where `documents` may lack the text. A known part whose ids are too few for this query (it has only a
   * document's first ids, and the query is longer than they are) is tokenized again from its text, or reported
   * missing when there is none. With `split`, a document's part is its ids before any cap, for windowing
   * (split-rows.ts); such parts are kept apart from the others (see the pool's cache key).
   */
  async encodeKnown(
    spec: TokenizationSpec,
    query: string,
    documents: readonly (string | undefined)[],
    known: ReadonlyMap<number, DocumentIds>,
    split?: SplitOptions,
  ): Promise<KnownEncoding> {
    const prepared = await this.prepared(spec);
    const { template, caps, budget } = prepared;
    const queryText = (template.queryPrefix ?? "") + query;
    const cutting = this.options.cutTexts !== false;
    // The query's ids: all of them where HF compares its length with the document's (uncapped pairs), else
    // more than its cap or the budget keeps.
    const queryNeeds = template.rows === "texts" ? budget : caps?.query;
    const [queryIds] = queryNeeds === undefined ? await prepared.tokenizer.encodeWithoutSpecialTokens([queryText]) : [undefined];
    // A document part must hold more ids than this (or all of them): then every comparison of truncatePairLengths
    // (longest_first's min() and which side is longer, only_second's room left) and every cap come out as with
    // all of its ids. Uncapped pairs compare the document with the budget and with the query. Split documents keep
    // maxTokensPerDocument ids, else all their windows up to maxWindows, which no window's ids exceed the budget of.
    const needed = split
      ? Math.min(split.maxTokensPerDocument || Infinity, split.maxWindows * budget)
      : template.rows === "texts"
        ? budget
        : caps
          ? caps.document
          : Math.max(budget, queryIds?.length ?? 0);
    const threshold = cutting ? needed : Infinity;
    const parts = documents.map((_, index) => usable(known.get(index), threshold));
    const missing = parts.flatMap((part, index) => (part || documents[index] !== undefined ? [] : [index]));
    if (missing.length > 0) {
      return { missing };
    }
    const toTokenize = parts.flatMap((part, index) => (part ? [] : [index]));
    const texts = toTokenize.map((index) => (template.documentPrefix ?? "") + documents[index]!);
    const [queryPart, tokenized] = await tokenizeParts(
      prepared,
      threshold,
      queryIds ?? queryText,
      cutting ? (queryNeeds ?? 0) : Infinity,
      texts,
      !split,
    );
    const newParts = new Map(toTokenize.map((documentIndex, position) => [documentIndex, tokenized[position]!]));
    for (const [index, part] of newParts) parts[index] = part;
    const documentParts = parts as DocumentIds[];
    const rows = split
      ? await splitRows(
          splitLayoutOf(prepared, spec),
          queryPart,
          documentParts.map((part) => part.ids),
          split,
        )
      : template.rows === "texts"
        ? assembleTexts(template, [queryPart, ...documentParts], spec.maxLength)
        : assemblePairs(template, queryPart, documentParts, spec.maxLength, spec.truncation);
    return { rows, tokenized: newParts };
  }

  private async prepared(spec: TokenizationSpec): Promise<PreparedSpec> {
    assertKnownSpec(spec);
    const tokenizer = this.tokenizerFor(spec.tokenizerFile);
    const key = `${spec.family}\u0000${spec.tokenizerFile}`;
    let template = this.templates.get(key);
    if (!template) {
      template = resolveTemplate(spec.family, tokenizer);
      this.templates.set(key, template);
    }
    const resolved = await template;
    return { tokenizer, template: resolved, caps: partCaps(spec, resolved), budget: contentBudget(resolved, spec.maxLength) };
  }

  private tokenizerFor(tokenizerFile: string): PieceTokenizer {
    let tokenizer = this.tokenizers.get(tokenizerFile);
    if (!tokenizer) {
      try {
        tokenizer = this.loadTokenizer(tokenizerFile);
      } catch (error) {
        throw new Error(`cannot load tokenizer ${tokenizerFile}: ${(error as Error).message}`, { cause: error });
      }
      this.tokenizers.set(tokenizerFile, tokenizer);
    }
    return tokenizer;
  }
}

/** A known part that serves a document whose part must hold more than `threshold` ids (or all of them). */
function usable(part: DocumentIds | undefined, threshold: number): DocumentIds | undefined {
  return part && (part.whole || part.ids.length > threshold) ? part : undefined;
}

/**
 * The query's and documents' parts as the family's reference has them before pairing: the texts with their
 * prefixes tokenized (only as far as precut.ts shows matters), the query cut to queryMaxLength and each document
 * to maxLength, and for FlagReranker those ids decoded and tokenized again (the round trip changes ids around
 * <unk> and at a cut). A document part keeps more than `threshold` ids or all of them: what pairing looks at.
 * Without `capDocuments` (split_max) documents keep their ids as tokenized: their windows are paired instead.
 *
 * `query` is the query's ids when the caller tokenized it whole, else its text, of which more than `queryNeeds`
 * ids are wanted.
 */
async function tokenizeParts(
  { tokenizer, template, caps }: PreparedSpec,
  threshold: number,
  query: string | readonly number[],
  queryNeeds: number,
  documents: readonly string[],
  capDocuments: boolean,
): Promise<[PartIds, DocumentIds[]]> {
  const queryText = typeof query === "string" ? [query] : [];
  const leading = await encodeLeading(
    tokenizer,
    [...queryText, ...documents],
    [...queryText.map(() => queryNeeds), ...documents.map(() => threshold)],
  );
  const queryIds = typeof query === "string" ? leading.shift()!.ids : query;
  // Pairing and windowing compare lengths with the threshold at most: ids past threshold + 1 never matter.
  const firstIds = () =>
    leading.map(({ ids, whole }) =>
      ids.length > threshold + 1 ? part(ids.slice(0, threshold + 1), false, false) : part(ids, false, whole),
    );
  if (!caps) {
    return [{ ids: queryIds, cut: false }, firstIds()];
  }
  const cappedDocuments = capDocuments ? leading.map(({ ids }) => keepFirst(ids, caps.document)) : [];
  const capped = [keepFirst(queryIds, caps.query), ...cappedDocuments];
  const [queryPart, ...documentParts] = template.reencodesCappedParts ? await reencode(tokenizer, template, capped) : capped;
  return [queryPart!, capDocuments ? documentParts.map(({ ids, cut }) => part(ids, cut, true)) : firstIds()];
}

/** What splitRows needs of a model: its template, lengths and overlap, and FlagReranker's round trip. */
function splitLayoutOf({ tokenizer, template, caps, budget }: PreparedSpec, spec: TokenizationSpec): SplitLayout {
  return {
    template,
    maxLength: spec.maxLength,
    truncation: spec.truncation,
    budget,
    documentCap: caps?.document ?? Infinity,
    overlap: spec.windowOverlap ?? DEFAULT_WINDOW_OVERLAP,
    roundTrip: template.reencodesCappedParts ? (windows) => roundTrip(tokenizer, template, windows) : undefined,
  };
}

/** FlagReranker's round trip: ids decoded (special tokens kept) and tokenized again. */
async function roundTrip(tokenizer: PieceTokenizer, template: ResolvedTemplate, parts: readonly TokenIds[]): Promise<number[][]> {
  if (!tokenizer.decodeKeepingSpecialTokens) {
    throw new Error(`template '${template.family}' decodes ids, which this tokenizer library cannot`);
  }
  const decoded = await tokenizer.decodeKeepingSpecialTokens(parts.map((ids) => Array.from(ids)));
  return tokenizer.encodeWithoutSpecialTokens(decoded);
}

/** The round trip of capped parts, which stay cut where their cap cut them. */
async function reencode(tokenizer: PieceTokenizer, template: ResolvedTemplate, capped: readonly PartIds[]): Promise<PartIds[]> {
  const reencoded = await roundTrip(
    tokenizer,
    template,
    capped.map((part) => part.ids),
  );
  return capped.map((part, index) => ({ ids: reencoded[index] ?? [], cut: part.cut }));
}

function part(ids: TokenIds, cut: boolean, whole: boolean): DocumentIds {
  return { ids: ids instanceof Int32Array ? ids : Int32Array.from(ids), cut, whole };
}

/** Specs cross the worker boundary and come from registry JSON, so their enums are checked at run time. */
function assertKnownSpec(spec: TokenizationSpec): void {
  if (!isFamily(spec.family)) {
    throw new Error(`unknown family '${spec.family}'`);
  }
  if (!TRUNCATION_STRATEGIES.includes(spec.truncation)) {
    throw new Error(`unknown truncation strategy '${spec.truncation}'`);
  }
}

/** Checks the registry's lengths and truncation against the family's reference; the caps it takes, if any. */
function partCaps(spec: TokenizationSpec, template: ResolvedTemplate): PartCaps | null {
  const budget = contentBudget(template, spec.maxLength);
  const where = `template '${template.family}'`;
  if (template.truncation && spec.truncation !== template.truncation) {
    throw new Error(`${where} truncates ${template.truncation}, like its reference, not ${spec.truncation}`);
  }
  const queryMaxLength = spec.queryMaxLength;
  if (!template.capsParts) {
    if (queryMaxLength !== undefined) {
      throw new Error(`${where} does not cap the query: queryMaxLength ${queryMaxLength} would be ignored`);
    }
    return null;
  }
  // A query at its cap must leave the document a token, or only_second has nothing to cut.
  if (queryMaxLength === undefined || !Number.isInteger(queryMaxLength) || queryMaxLength < 1 || queryMaxLength >= budget) {
    throw new RangeError(
      `${where} caps the query: queryMaxLength must be an integer from 1 to ${budget - 1} with maxLength ` +
        `${spec.maxLength}, got ${queryMaxLength}`,
    );
  }
  return { query: queryMaxLength, document: spec.maxLength };
}
