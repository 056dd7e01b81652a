/**
 * What an architecture family fixes about a model: the Triton inputs it takes and the side it pads on.
 * The pair template (special tokens, truncation) lives with the tokenizer, keyed by the same family name.
 */
export interface FamilySpec {
  /** BERT-style segment ids; XLM-R and decoders take none. */
  usesTokenTypeIds: boolean;
  /** Encoders pad right; decoders score the last position, so they pad left. */
  paddingSide: "left" | "right";
}

export const FAMILIES = {
  bert: { usesTokenTypeIds: true, paddingSide: "right" },
} as const satisfies Record<string, FamilySpec>;

export type Family = keyof typeof FAMILIES;

export function isFamily(name: string): name is Family {
  return Object.hasOwn(FAMILIES, name);
}
