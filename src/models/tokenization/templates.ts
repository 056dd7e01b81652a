/**
 * Per-family pair templates, named like the registry's `family`: where a model family puts its special
 * tokens, the query and the document, and which token type id each part gets. They mirror the `pair`
 * section of HF's TemplateProcessing post-processor. Templates are data; assemblePairs
 * (encoded-batch.ts) is the one code path for all of them.
 *
 * A new family adds an entry, e.g. XLM-R: `<s> query </s> </s> document </s>` with usesTypeIds false.
 * Decoder prompts will add a piece kind for fixed prompt text, tokenized once like the special tokens.
 */

type TemplatePiece =
  | { readonly kind: "special"; readonly token: string; readonly typeId: number }
  | { readonly kind: "query" | "document"; readonly typeId: number };

interface PairTemplate {
  /** Whether the model takes token_type_ids; when false the batch carries none. */
  readonly usesTypeIds: boolean;
  readonly pieces: readonly TemplatePiece[];
}

const pairTemplates = {
  // bert-base-uncased tokenizer.json `post_processor.pair`: [CLS] $A:0 [SEP]:0 $B:1 [SEP]:1
  bert: {
    usesTypeIds: true,
    pieces: [
      { kind: "special", token: "[CLS]", typeId: 0 },
      { kind: "query", typeId: 0 },
      { kind: "special", token: "[SEP]", typeId: 0 },
      { kind: "document", typeId: 1 },
      { kind: "special", token: "[SEP]", typeId: 1 },
    ],
  },
} as const satisfies Record<string, PairTemplate>;

export type TemplateName = keyof typeof pairTemplates;

type ResolvedPiece =
  | { readonly kind: "special"; readonly id: number; readonly typeId: number }
  | { readonly kind: "query" | "document"; readonly typeId: number };

/** A family's template with its special tokens turned into ids of one tokenizer's vocabulary. */
export interface ResolvedTemplate {
  readonly name: TemplateName;
  readonly usesTypeIds: boolean;
  readonly pieces: readonly ResolvedPiece[];
  /** Tokens the template adds around query and document: HF's `added_tokens(is_pair = true)`. */
  readonly specialTokenCount: number;
}

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(pairTemplates, name);
}

export function resolveTemplate(name: TemplateName, tokenToId: (token: string) => number | undefined): ResolvedTemplate {
  const template: PairTemplate = pairTemplates[name];
  const pieces = template.pieces.map((piece): ResolvedPiece => {
    if (piece.kind !== "special") {
      return piece;
    }
    const id = tokenToId(piece.token);
    if (id === undefined) {
      throw new Error(`template '${name}' needs special token ${piece.token}, which the tokenizer lacks`);
    }
    return { kind: "special", id, typeId: piece.typeId };
  });
  const specialTokenCount = pieces.filter((piece) => piece.kind === "special").length;
  return { name, usesTypeIds: template.usesTypeIds, pieces, specialTokenCount };
}
