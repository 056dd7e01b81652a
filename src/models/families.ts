/**
 * What an architecture family fixes about a model: the Triton inputs it takes, the side it pads on, and what
 * its Triton output is. The input template (special tokens, prompts, truncation) lives with the tokenizer
 * (src/models/tokenization), keyed by the same family name.
 */
export interface FamilySpec {
  /** BERT-style segment ids; DeBERTa rerankers, XLM-R and decoders take none. */
  usesTokenTypeIds: boolean;
  /** Encoders pad right; decoders score the last position, so they pad left. */
  paddingSide: "left" | "right";
  /**
   * "logit": one relevance logit per (query, document) pair (cross-encoders, and decoders whose LM head is
   * reduced to the score row at export). "embedding": one normalized embedding per text (bi-encoders).
   */
  output: "logit" | "embedding";
}

export const FAMILIES = {
  bert: { usesTokenTypeIds: true, paddingSide: "right", output: "logit" },
  "deberta-v2": { usesTokenTypeIds: false, paddingSide: "right", output: "logit" },
  "xlm-roberta": { usesTokenTypeIds: false, paddingSide: "right", output: "logit" },
  "qwen2-mxbai": { usesTokenTypeIds: false, paddingSide: "left", output: "logit" },
  "gemma-bge": { usesTokenTypeIds: false, paddingSide: "left", output: "logit" },
  "bi-encoder": { usesTokenTypeIds: true, paddingSide: "right", output: "embedding" },
} as const satisfies Record<string, FamilySpec>;

export type Family = keyof typeof FAMILIES;

export function isFamily(name: string): name is Family {
  return Object.hasOwn(FAMILIES, name);
}
