/**
 * A family's template (src/catalog/families.ts) resolved against one model's tokenizer: fixed tokens and prompt
 * texts become ids of that vocabulary once, so encoding a request only tokenizes its query and documents.
 */
import { FAMILIES, type Family, type FixedPiece, type TemplateLayout } from "../catalog/families.js";
import type { PieceTokenizer } from "./tokenizer.js";

type ResolvedPiece =
  | { readonly kind: "fixed"; readonly ids: readonly number[]; readonly typeId: number }
  | { readonly kind: "first" | "second"; readonly typeId: number };

/** A family's template with its fixed pieces turned into ids of one tokenizer's vocabulary. */
export interface ResolvedTemplate extends Omit<TemplateLayout, "pieces"> {
  readonly family: Family;
  /** "pairs": a row per (query, document); "texts": a row per text, the query's first. */
  readonly rows: "pairs" | "texts";
  /** Whether rows carry token type ids: only for families whose model takes them. */
  readonly usesTokenTypeIds: boolean;
  readonly pieces: readonly ResolvedPiece[];
  /** Tokens of all fixed pieces: what a row holds besides its query and document tokens. */
  readonly fixedTokenCount: number;
  /** maxLength minus this is the budget of query + document tokens (negative where fixed pieces widen it). */
  readonly budgetOverhead: number;
}

/** Resolves a family's fixed pieces against one tokenizer: special tokens by name, texts by encoding them. */
export async function resolveTemplate(
  family: Family,
  tokenizer: Pick<PieceTokenizer, "encodeWithoutSpecialTokens" | "tokenToId">,
): Promise<ResolvedTemplate> {
  const { rows, usesTokenTypeIds, template } = FAMILIES[family];
  const { pieces, ...layout }: TemplateLayout = template;
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
      throw new Error(`template '${family}' needs ${what}, which the tokenizer lacks`);
    }
    fixedTokenCount += ids.length;
    const budget = piece.budget ?? "counts";
    budgetOverhead += budget === "counts" ? ids.length : budget === "widens" ? -ids.length : 0;
    return { kind: "fixed", ids, typeId };
  });
  return { ...layout, family, rows, usesTokenTypeIds, pieces: resolved, fixedTokenCount, budgetOverhead };
}
