import { assemblePairs, contentBudget, type EncodedBatch } from "./encoded-batch.js";
import { loadNativeTokenizer } from "./native-tokenizer.js";
import { isTemplateName, resolveTemplate, type ResolvedTemplate, type TemplateName } from "./templates.js";
import { truncationStrategies, type TruncationStrategy } from "./truncation.js";

/** How one model tokenizes its pairs: its registry tokenizer, family (the template), maxLength and truncation. */
export interface TokenizationSpec {
  /** Path of a Hugging Face tokenizer.json. */
  readonly tokenizerFile: string;
  readonly template: TemplateName;
  /** Most tokens of a pair, special tokens included. */
  readonly maxLength: number;
  readonly truncation: TruncationStrategy;
}

/** What the encoder needs from a tokenizer library. */
export interface PieceTokenizer {
  /** Ids of each text on its own: no special tokens, no truncation, no padding. */
  encodeWithoutSpecialTokens(texts: readonly string[]): Promise<number[][]>;
  tokenToId(token: string): number | undefined;
}

interface PreparedSpec {
  readonly tokenizer: PieceTokenizer;
  readonly template: ResolvedTemplate;
}

/**
 * Encodes a request's pairs in the calling thread; each pool worker runs one. A tokenizer is loaded
 * once per file and kept, as is each family template resolved against it.
 */
export class PairEncoder {
  private readonly tokenizers = new Map<string, PieceTokenizer>();
  private readonly templates = new Map<string, ResolvedTemplate>();

  constructor(private readonly loadTokenizer: (tokenizerFile: string) => PieceTokenizer = loadNativeTokenizer) {}

  /** Loads and checks what `spec` needs, so that a bad tokenizer file or maxLength fails at start-up. */
  prepare(spec: TokenizationSpec): void {
    contentBudget(this.prepared(spec).template, spec.maxLength);
  }

  async encodePairs(spec: TokenizationSpec, query: string, documents: readonly string[]): Promise<EncodedBatch> {
    const { tokenizer, template } = this.prepared(spec);
    // The query is tokenized once for the whole request, in the same call as the documents.
    const [queryIds = [], ...documentIds] = await tokenizer.encodeWithoutSpecialTokens([query, ...documents]);
    return assemblePairs(template, queryIds, documentIds, spec.maxLength, spec.truncation);
  }

  private prepared(spec: TokenizationSpec): PreparedSpec {
    assertKnownSpec(spec);
    const tokenizer = this.tokenizerFor(spec.tokenizerFile);
    const key = `${spec.template}\u0000${spec.tokenizerFile}`;
    let template = this.templates.get(key);
    if (!template) {
      template = resolveTemplate(spec.template, (token) => tokenizer.tokenToId(token));
      this.templates.set(key, template);
    }
    return { tokenizer, template };
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

/** Specs cross the worker boundary and come from registry JSON, so their enums are checked at run time. */
function assertKnownSpec(spec: TokenizationSpec): void {
  if (!isTemplateName(spec.template)) {
    throw new Error(`unknown pair template '${spec.template}'`);
  }
  if (!truncationStrategies.includes(spec.truncation)) {
    throw new Error(`unknown truncation strategy '${spec.truncation}'`);
  }
}
