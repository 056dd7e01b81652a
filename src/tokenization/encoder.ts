import { isFamily, TRUNCATION_STRATEGIES, type Family, type TruncationStrategy } from "../catalog/families.js";
import { assemblePairs, assembleTexts, contentBudget, type EncodedRows } from "./encoded-rows.js";
import { loadNativeTokenizer } from "./native-tokenizer.js";
import { resolveTemplate, type ResolvedTemplate } from "./templates.js";
import type { PieceTokenizer } from "./tokenizer.js";
import { keepFirst, type PartIds } from "./truncation.js";

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
}

/** Turns a request's query and documents into a model's rows; the pool and the in-thread encoder both do. */
export interface RowEncoder {
  encodeRows(spec: TokenizationSpec, query: string, documents: readonly string[]): Promise<EncodedRows>;
}

/** Most ids kept of the query and of each document before pairing, for the families that cap them. */
interface PartCaps {
  readonly query: number;
  readonly document: number;
}

interface PreparedSpec {
  readonly tokenizer: PieceTokenizer;
  readonly template: ResolvedTemplate;
  readonly caps: PartCaps | null;
}

const noQuery: PartIds = { ids: [], cut: false };

/**
 * Encodes a request's rows in the calling thread; each pool worker runs one. A tokenizer is loaded once per
 * file and kept, as is each family template resolved against it (its fixed texts tokenized once).
 */
export class PairEncoder implements RowEncoder {
  private readonly tokenizers = new Map<string, PieceTokenizer>();
  private readonly templates = new Map<string, Promise<ResolvedTemplate>>();

  constructor(private readonly loadTokenizer: (tokenizerFile: string) => PieceTokenizer = loadNativeTokenizer) {}

  /** Loads and checks what `spec` needs, so that a bad tokenizer file or length fails at start-up. */
  async prepare(spec: TokenizationSpec): Promise<void> {
    await this.prepared(spec);
  }

  async encodeRows(spec: TokenizationSpec, query: string, documents: readonly string[]): Promise<EncodedRows> {
    const { tokenizer, template, caps } = await this.prepared(spec);
    if (template.rows === "texts") {
      return assembleTexts(template, await tokenizer.encodeWithoutSpecialTokens([query, ...documents]), spec.maxLength);
    }
    const [queryPart = noQuery, ...documentParts] = await tokenizeParts(tokenizer, template, caps, query, documents);
    return assemblePairs(template, queryPart, documentParts, spec.maxLength, spec.truncation);
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
    return { tokenizer, template: resolved, caps: partCaps(spec, resolved) };
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

/**
 * The query's and documents' ids as the family's reference has them before pairing: the texts with their
 * prefixes tokenized in one call, the query cut to queryMaxLength and each document to maxLength, and for
 * FlagReranker those ids decoded and tokenized again (the round trip changes ids around <unk> and at a cut).
 */
async function tokenizeParts(
  tokenizer: PieceTokenizer,
  template: ResolvedTemplate,
  caps: PartCaps | null,
  query: string,
  documents: readonly string[],
): Promise<PartIds[]> {
  const texts = [
    (template.queryPrefix ?? "") + query,
    ...documents.map((document) => (template.documentPrefix ?? "") + document),
  ];
  const ids = await tokenizer.encodeWithoutSpecialTokens(texts);
  if (!caps) {
    return ids.map((partIds) => ({ ids: partIds, cut: false }));
  }
  const capped = ids.map((partIds, index) => keepFirst(partIds, index === 0 ? caps.query : caps.document));
  if (!template.reencodesCappedParts) {
    return capped;
  }
  if (!tokenizer.decodeKeepingSpecialTokens) {
    throw new Error(`template '${template.family}' decodes ids, which this tokenizer library cannot`);
  }
  const decoded = await tokenizer.decodeKeepingSpecialTokens(capped.map((part) => part.ids));
  const reencoded = await tokenizer.encodeWithoutSpecialTokens(decoded);
  return capped.map((part, index) => ({ ids: reencoded[index] ?? [], cut: part.cut }));
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
