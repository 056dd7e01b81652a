/**
 * Documents' token ids, kept for the next request that carries the same document: RAG systems rerank the same
 * passages again and again. An entry is a document's part as encoder.ts pairs it (after its family's prefix,
 * caps and re-encoding), keyed by a SHA-256 of the tokenization settings that make it and of the text; least
 * recently used entries go first once the entries' bytes pass the bound.
 */
import { createHash } from "node:crypto";

/** A document's ids before pairing, or their start when the document has more (precut.ts). */
export interface DocumentIds {
  readonly ids: Int32Array;
  /** The family's cap dropped ids of this document (the row is truncated whatever the query). */
  readonly cut: boolean;
  /** False when `ids` are only the document's first ids: it has more than ids.length. */
  readonly whole: boolean;
}

/** Bytes an entry costs besides its ids and its key's characters: the Map slot, the entry and typed array objects. */
const ENTRY_OVERHEAD_BYTES = 160;

export interface TokenCacheStats {
  readonly entries: number;
  readonly bytes: number;
}

export class TokenCache {
  private readonly entries = new Map<string, DocumentIds>();
  private usedBytes = 0;

  /** `maxBytes` 0 keeps nothing. */
  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`token cache size must be a non-negative integer of bytes, got ${maxBytes}`);
    }
  }

  /**
   * The key of `document` under `settings` (what else its part depends on: the tokenizer, the family's prefix,
   * caps and re-encoding, the maximum length): a SHA-256 of both, so that no crafted text can take another's ids.
   */
  static keyOf(settings: string, document: string): string {
    return createHash("sha256").update(settings).update("\u0000").update(document).digest("base64");
  }

  get stats(): TokenCacheStats {
    return { entries: this.entries.size, bytes: this.usedBytes };
  }

  /** The entry, now the most recently used. */
  get(key: string): DocumentIds | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Stores an entry (its own copy of the ids), evicting the least recently used ones while over the bound. */
  set(key: string, entry: DocumentIds): void {
    const size = sizeOf(key, entry);
    this.delete(key);
    if (size > this.maxBytes) return;
    this.entries.set(key, { ...entry, ids: entry.ids.slice() });
    this.usedBytes += size;
    for (const [oldest, value] of this.entries) {
      if (this.usedBytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.usedBytes -= sizeOf(oldest, value);
    }
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.usedBytes -= sizeOf(key, entry);
    }
  }
}

function sizeOf(key: string, entry: DocumentIds): number {
  return entry.ids.byteLength + key.length * 2 + ENTRY_OVERHEAD_BYTES;
}
