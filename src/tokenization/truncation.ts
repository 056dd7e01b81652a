/**
 * Pair truncation, reproducing Hugging Face tokenizers' `truncate_encodings`
 * (tokenizers/src/utils/truncation.rs, tokenizers v0.23) on token counts.
 *
 * HF calls it from `TokenizerImpl::post_process` (tokenizers/src/tokenizer/mod.rs) with
 * `max_length - n_added_tokens`, the budget left for content once the post-processor's special tokens
 * are counted; callers pass that budget.
 * Only direction=right and stride=0 (the defaults, and what CrossEncoder / FlagEmbedding use)
 * are reproduced: truncating to n tokens keeps the first n.
 *
 * The decoder rerankers truncate with transformers' Python `truncate_sequences` instead, on (first, second)
 * sequences that hold fixed tokens as well; its only_second cuts the same document tokens as the Rust one
 * whenever the query leaves the document any room, which the queryMaxLength check of encoder.ts ensures.
 */
import type { TruncationStrategy } from "../catalog/families.js";
import { GatewayError } from "../errors.js";

/** Token ids as the tokenizer returns them, or as the pool's cache keeps them. */
export type TokenIds = readonly number[] | Int32Array;

/** A query's or document's ids ready for pairing, and whether a cap already dropped some of them. */
export interface PartIds {
  readonly ids: TokenIds;
  readonly cut: boolean;
}

/** The first `limit` ids: HF truncation of one text encoded without special tokens (max_length, truncation=True). */
export function keepFirst(ids: TokenIds, limit: number): PartIds {
  return ids.length > limit ? { ids: ids.slice(0, limit), cut: true } : { ids, cut: false };
}

export interface PairLengths {
  readonly query: number;
  readonly document: number;
}

export interface TruncatedPairLengths extends PairLengths {
  /** True when the pair exceeded the budget, whether or not anything was left of the document. */
  readonly truncated: boolean;
}

/**
 * Token counts kept of the query and of the document so that together they fit `budget`.
 *
 * `only_second` with a query that leaves no room for the document: HF raises
 * "Sequence to truncate too short to respect the provided max_length" for the whole call. The gateway
 * throws an "invalid" GatewayError; since every pair of a request shares the query, the request is rejected
 * rather than scored with the query cut or the document dropped.
 */
export function truncatePairLengths(lengths: PairLengths, budget: number, strategy: TruncationStrategy): TruncatedPairLengths {
  if (!Number.isInteger(budget) || budget < 1) {
    throw new RangeError(`truncation budget must be a positive integer, got ${budget}`);
  }
  const total = lengths.query + lengths.document;
  if (total <= budget) {
    return { ...lengths, truncated: false };
  }
  return strategy === "longest_first"
    ? { ...truncateLongestFirst(lengths, budget), truncated: true }
    : { ...truncateOnlySecond(lengths, total - budget, budget), truncated: true };
}

function truncateLongestFirst({ query, document }: PairLengths, budget: number): PairLengths {
  // HF computes target lengths n1 (shorter input) and n2 (longer one), then truncates each input to its
  // target; truncating to a target not below the current length is a no-op, hence the Math.min.
  const shorter = Math.min(query, document);
  let shorterTarget = shorter;
  let longerTarget = shorter > budget ? shorter : Math.max(shorter, budget - shorter);
  if (shorterTarget + longerTarget > budget) {
    shorterTarget = Math.floor(budget / 2);
    longerTarget = shorterTarget + (budget % 2);
  }
  // HF swaps only when the query is strictly longer: on a tie the document gets the odd extra token.
  const queryIsLonger = query > document;
  return {
    query: Math.min(query, queryIsLonger ? longerTarget : shorterTarget),
    document: Math.min(document, queryIsLonger ? shorterTarget : longerTarget),
  };
}

function truncateOnlySecond({ query, document }: PairLengths, excess: number, budget: number): PairLengths {
  if (document <= excess) throw noRoomForDocument(query, budget);
  return { query, document: document - excess };
}

function noRoomForDocument(query: number, budget: number): GatewayError {
  return new GatewayError(
    "invalid",
    `query has ${query} tokens, leaving no room for the document: the model takes at most ${budget} ` +
      `query+document tokens and its truncation strategy only_second never cuts the query`,
  );
}

/**
 * The query tokens a pair keeps beside a window of a long document (long_documents=split_max) that takes the rest
 * of the budget. longest_first keeps at most half the budget of the query (rounded up): HF cuts a longer query to
 * that beside a window of the other half, and a longer window would lose tokens to the query. only_second never
 * cuts the query, so it must leave the window a token.
 */
export function queryBesideWindows(query: number, budget: number, strategy: TruncationStrategy): number {
  if (strategy === "longest_first") return Math.min(query, Math.ceil(budget / 2));
  if (query >= budget) throw noRoomForDocument(query, budget);
  return query;
}
