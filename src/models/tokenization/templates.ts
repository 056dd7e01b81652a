/**
 * Per-family input layouts, named like the registry's `family`: what each family's reference library does to
 * a query and a document (or, for bi-encoders, to each text alone) to get the ids its model reads. Layouts
 * are data; PairEncoder (encoder.ts) and assemblePairs / assembleTexts (encoded-batch.ts) are the one code
 * path for all of them. Fixed tokens and prompt texts are what the reference hardcodes; they become ids of
 * the model's own tokenizer once, in resolveTemplate.
 */
import type { PieceTokenizer } from "./encoder.js";
import type { TruncationStrategy } from "./truncation.js";

/**
 * Where a fixed piece stands with respect to truncation:
 * - "counts": inside the truncated pair, so its tokens count against maxLength (HF post-processor tokens);
 * - "excluded": added after truncation, outside maxLength (mxbai v2's chat template);
 * - "widens": added after truncation, and the reference raises the pair's limit by its length
 *   (FlagLLMReranker's encode_max_length).
 */
type BudgetRole = "counts" | "excluded" | "widens";

/**
 * A fixed special token (budget role "counts" unless stated) or prompt text, or a slot: `first` holds the
 * query (a bi-encoder row's text), `second` the document, like HF's $A and $B. Token type ids are 0 unless
 * a piece says otherwise; only families with usesTypeIds send them.
 */
type TemplatePiece =
  FixedPiece | { readonly kind: "first"; readonly typeId?: number } | { readonly kind: "second"; readonly typeId?: number };

type FixedPiece =
  | { readonly kind: "special"; readonly token: string; readonly typeId?: number; readonly budget?: BudgetRole }
  | { readonly kind: "text"; readonly text: string; readonly typeId?: number; readonly budget: BudgetRole };

interface FamilyLayout {
  /** "pairs": one row per (query, document); "texts": one row per text, the query's first (bi-encoders). */
  readonly rows: "pairs" | "texts";
  /** Whether the model takes token_type_ids; when false the batch carries none. */
  readonly usesTypeIds: boolean;
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
const clsSepPair: FamilyLayout = {
  rows: "pairs",
  usesTypeIds: true,
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
  options: Pick<FamilyLayout, "queryPrefix" | "documentPrefix" | "reencodesCappedParts">,
  pieces: readonly TemplatePiece[],
): FamilyLayout {
  return { rows: "pairs", usesTypeIds: false, truncation: "only_second", capsParts: true, ...options, pieces };
}

/** Both decoder rerankers put sep = tok("\n") before the document, inside the truncated second sequence. */
const newlineSeparatedPair: readonly TemplatePiece[] = [
  { kind: "first" },
  { kind: "text", text: "\n", budget: "counts" },
  { kind: "second" },
];

const familyLayouts = {
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
    rows: "texts",
    usesTypeIds: true,
    truncation: "longest_first",
    pieces: [{ kind: "special", token: "[CLS]" }, { kind: "first" }, { kind: "special", token: "[SEP]" }],
  },
} as const satisfies Record<string, FamilyLayout>;

export type TemplateName = keyof typeof familyLayouts;

type ResolvedPiece =
  | { readonly kind: "fixed"; readonly ids: readonly number[]; readonly typeId: number }
  | { readonly kind: "first" | "second"; readonly typeId: number };

/** A family's layout with its fixed pieces turned into ids of one tokenizer's vocabulary. */
export interface ResolvedTemplate extends Omit<FamilyLayout, "pieces"> {
  readonly name: TemplateName;
  readonly pieces: readonly ResolvedPiece[];
  /** Tokens of all fixed pieces: what a row holds besides its query and document tokens. */
  readonly fixedTokenCount: number;
  /** maxLength minus this is the budget of query + document tokens (negative where fixed pieces widen it). */
  readonly budgetOverhead: number;
}

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(familyLayouts, name);
}

/** Resolves a family's fixed pieces against one tokenizer: special tokens by name, texts by encoding them. */
export async function resolveTemplate(
  name: TemplateName,
  tokenizer: Pick<PieceTokenizer, "encodeWithoutSpecialTokens" | "tokenToId">,
): Promise<ResolvedTemplate> {
  const { pieces, ...layout }: FamilyLayout = familyLayouts[name];
  const texts = pieces.flatMap((piece) => (piece.kind === "text" ? [piece.text] : []));
  const textIds = texts.length > 0 ? await tokenizer.encodeWithoutSpecialTokens(texts) : [];
  const fixedIds = (piece: FixedPiece): number[] => {
    if (piece.kind === "text") {
      return textIds[texts.indexOf(piece.text)] ?? [];
    }
    const id = tokenizer.tokenToId(piece.token);
    return id === undefined ? [] : [id];
  };
  let fixedTokenCount = 0;
  let budgetOverhead = 0;
  const resolved = pieces.map((piece): ResolvedPiece => {
    const typeId = piece.typeId ?? 0;
    if (piece.kind === "first" || piece.kind === "second") {
      return { kind: piece.kind, typeId };
    }
    const ids = fixedIds(piece);
    if (ids.length === 0) {
      const what = piece.kind === "special" ? `special token ${piece.token}` : `text ${JSON.stringify(piece.text)}`;
      throw new Error(`template '${name}' needs ${what}, which the tokenizer lacks`);
    }
    fixedTokenCount += ids.length;
    const budget = piece.budget ?? "counts";
    budgetOverhead += budget === "counts" ? ids.length : budget === "widens" ? -ids.length : 0;
    return { kind: "fixed", ids, typeId };
  });
  return { ...layout, name, pieces: resolved, fixedTokenCount, budgetOverhead };
}
