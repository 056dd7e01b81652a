/**
 * What an architecture family fixes about its models, in one table: the Triton inputs it takes, the side it pads
 * on, whether a row is a (query, document) pair or one text, what its Triton output is, how that output becomes a
 * client's score, and its input template: what the family's reference library does to a query and a document
 * (or, for bi-encoders, to each text alone) to get the ids its model reads. Templates are data; the tokenization
 * stage resolves them against a model's tokenizer (src/tokenization/templates.ts) and is the one code path for all.
 */

/** `longest_first`: sentence-transformers CrossEncoder (HF `truncation=True`); `only_second`: FlagEmbedding. */
export type TruncationStrategy = "longest_first" | "only_second";

export const TRUNCATION_STRATEGIES: readonly TruncationStrategy[] = ["longest_first", "only_second"];

/**
 * Where a fixed piece stands with respect to truncation:
 * - "counts": inside the truncated pair, so its tokens count against maxLength (HF post-processor tokens);
 * - "excluded": added after truncation, outside maxLength (mxbai v2's chat template);
 * - "widens": added after truncation, and the reference raises the pair's limit by its length
 *   (FlagLLMReranker's encode_max_length).
 */
export type BudgetRole = "counts" | "excluded" | "widens";

/**
 * A fixed special token (budget role "counts" unless stated) or prompt text, or a slot: `first` holds the
 * query (a bi-encoder row's text), `second` the document, like HF's $A and $B. Token type ids are 0 unless
 * a piece says otherwise; only families whose model takes token_type_ids send them.
 */
export type TemplatePiece =
  FixedPiece | { readonly kind: "first"; readonly typeId?: number } | { readonly kind: "second"; readonly typeId?: number };

export type FixedPiece =
  | { readonly kind: "special"; readonly token: string; readonly typeId?: number; readonly budget?: BudgetRole }
  | { readonly kind: "text"; readonly text: string; readonly typeId?: number; readonly budget: BudgetRole };

export interface TemplateLayout {
  /** The truncation the reference hardcodes; absent where the registry chooses. */
  readonly truncation?: TruncationStrategy;
  /** Text put before the query / each document before tokenizing it. */
  readonly queryPrefix?: string;
  readonly documentPrefix?: string;
  /** Whether the query is tokenized alone and cut to queryMaxLength, and each document to maxLength, first. */
  readonly capsParts?: boolean;
  /** Whether those cut ids are decoded back to text (special tokens kept) and tokenized again. */
  readonly reencodesCappedParts?: boolean;
  readonly pieces: readonly TemplatePiece[];
}

// bert-base-uncased tokenizer.json `post_processor.pair`: [CLS] $A:0 [SEP]:0 $B:1 [SEP]:1. DeBERTa-v3's is the
// same in its own vocabulary (mxbai_rerank_v1.py MxbaiRerankV1.predict encodes the pair with it).
const clsSepPair: TemplateLayout = {
  pieces: [
    { kind: "special", token: "[CLS]" },
    { kind: "first" },
    { kind: "special", token: "[SEP]" },
    { kind: "second", typeId: 1 },
    { kind: "special", token: "[SEP]", typeId: 1 },
  ],
};

/**
 * The rerankers whose reference tokenizes query and document alone, caps them (query at queryMaxLength, the
 * reference's max_length * 3 // 4; document at maxLength), then truncates the pair only_second.
 */
function cappedPair(
  options: Pick<TemplateLayout, "queryPrefix" | "documentPrefix" | "reencodesCappedParts">,
  pieces: readonly TemplatePiece[],
): TemplateLayout {
  return { truncation: "only_second", capsParts: true, ...options, pieces };
}

/** Both decoder rerankers put sep = tok("\n") before the document, inside the truncated second sequence. */
const newlineSeparatedPair: readonly TemplatePiece[] = [
  { kind: "first" },
  { kind: "text", text: "\n", budget: "counts" },
  { kind: "second" },
];

const templates = {
  bert: clsSepPair,
  "deberta-v2": clsSepPair,
  // FlagEmbedding encoder_only/base.py compute_score_single_gpu (lines 102-199): query cut to
  // max_length * 3 // 4, passage to max_length, both alone; then utils/tokenizer_compat.py
  // prepare_for_model_compat (lines 108-122, transformers 5) decodes them and encodes the pair
  // <s> $A </s> </s> $B </s> with only_second truncation to max_length.
  "xlm-roberta": cappedPair({ reencodesCappedParts: true }, [
    { kind: "special", token: "<s>" },
    { kind: "first" },
    { kind: "special", token: "</s>" },
    { kind: "special", token: "</s>" },
    { kind: "second" },
    { kind: "special", token: "</s>" },
  ]),
  // mxbai_rerank/mxbai_rerank_v2.py: prepare_predefined_inputs (lines 94-123) tokenizes the fixed texts;
  // prepare_inputs (lines 135-199) cuts "query: q" and "document: d", truncates (Q, sep + D) only_second to
  // max_length and wraps the result in the chat template. (The reference also caps the document at
  // model_max_length - |Q| - 79; below Qwen2's 32768 positions that never cuts more than only_second does.)
  "qwen2-mxbai": cappedPair({ queryPrefix: "query: ", documentPrefix: "document: " }, [
    {
      kind: "text",
      text: "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
      budget: "excluded",
    },
    ...newlineSeparatedPair,
    { kind: "text", text: "\n", budget: "excluded" },
    {
      kind: "text",
      text:
        "You are a search relevance expert who evaluates how well documents match search queries. For each " +
        "query-document pair, carefully analyze the semantic relationship between them, then provide your " +
        "binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:",
      budget: "excluded",
    },
    { kind: "text", text: "<|im_end|>\n<|im_start|>assistant\n", budget: "excluded" },
  ]),
  // FlagEmbedding decoder_only/base.py compute_score_single_gpu (lines 260-514): "A: q" cut to
  // max_length * 3 // 4, "B: d" to max_length; prepare_for_model([bos] + Q, sep + D, only_second,
  // max_length = encode_max_length = max_length + len(sep) + len(prompt)), then sep + prompt appended.
  "gemma-bge": cappedPair({ queryPrefix: "A: ", documentPrefix: "B: " }, [
    { kind: "special", token: "<bos>" },
    ...newlineSeparatedPair,
    { kind: "text", text: "\n", budget: "widens" },
    {
      kind: "text",
      text:
        "Given a query A and a passage B, determine whether the passage contains an answer to the query by " +
        "providing a prediction of either 'Yes' or 'No'.",
      budget: "widens",
    },
  ]),
  // SentenceTransformer.encode: each text alone, bert-base-uncased `post_processor.single` [CLS] $A [SEP],
  // truncated by its Transformer module (truncation="longest_first", which for one text keeps its start).
  "bi-encoder": {
    truncation: "longest_first",
    pieces: [{ kind: "special", token: "[CLS]" }, { kind: "first" }, { kind: "special", token: "[SEP]" }],
  },
} as const satisfies Record<string, TemplateLayout>;

export interface FamilySpec {
  /** BERT-style segment ids (token_type_ids); DeBERTa rerankers, XLM-R and decoders take none. */
  readonly usesTokenTypeIds: boolean;
  /** Encoders pad right; decoders score the last position, so they pad left. */
  readonly paddingSide: "left" | "right";
  /** "pairs": one row per (query, document); "texts": one row per text, the query's first (bi-encoders). */
  readonly rows: "pairs" | "texts";
  /**
   * "logit": one relevance logit per row (cross-encoders, and decoders whose LM head is reduced to the score row
   * at export). "embedding": one normalized embedding per text, scored as its cosine with the query's.
   */
  readonly output: "logit" | "embedding";
  /** The normalized score: sigmoid of the logit (minus the model's scoreCenter), or the raw value (cosine). */
  readonly score: "sigmoid" | "identity";
  readonly template: TemplateLayout;
}

const crossEncoder = { paddingSide: "right", rows: "pairs", output: "logit", score: "sigmoid" } as const;
const decoder = { usesTokenTypeIds: false, paddingSide: "left", rows: "pairs", output: "logit", score: "sigmoid" } as const;

export const FAMILIES = {
  bert: { ...crossEncoder, usesTokenTypeIds: true, template: templates.bert },
  "deberta-v2": { ...crossEncoder, usesTokenTypeIds: false, template: templates["deberta-v2"] },
  "xlm-roberta": { ...crossEncoder, usesTokenTypeIds: false, template: templates["xlm-roberta"] },
  "qwen2-mxbai": { ...decoder, template: templates["qwen2-mxbai"] },
  "gemma-bge": { ...decoder, template: templates["gemma-bge"] },
  "bi-encoder": {
    usesTokenTypeIds: true,
    paddingSide: "right",
    rows: "texts",
    output: "embedding",
    score: "identity",
    template: templates["bi-encoder"],
  },
} as const satisfies Record<string, FamilySpec>;

export type Family = keyof typeof FAMILIES;

export function isFamily(name: string): name is Family {
  return Object.hasOwn(FAMILIES, name);
}
