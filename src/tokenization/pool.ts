import { Worker } from "node:worker_threads";
import { FAMILIES } from "../catalog/families.js";
import { GatewayError } from "../errors.js";
import { concatChunks, DEFAULT_CHUNK_LIMITS, planChunks, settled, type ChunkLimits } from "./chunks.js";
import type { ChunkOptions, RowEncoder, TokenizationSpec } from "./encoder.js";
import type { EncodedRows } from "./encoded-rows.js";
import { TokenCache, type DocumentIds } from "./token-cache.js";
import type { SplitOptions } from "./windows.js";
import {
  fromWireError,
  packedTransferables,
  packParts,
  unpackParts,
  type WorkerResponse,
  type WorkerResult,
  type WorkerTask,
} from "./worker-protocol.js";

interface PendingRequest {
  resolve(result: WorkerResult): void;
  reject(error: Error): void;
}

interface PoolThread {
  readonly worker: Worker;
  readonly pending: Map<number, PendingRequest>;
  /** Whether the worker ever answered: proof that it starts, so that replacing it is worth it. */
  answered: boolean;
  error?: Error;
}

/** One chunk of a request, waiting for a thread or on one. */
interface Chunk {
  readonly spec: TokenizationSpec;
  readonly query: string;
  readonly documents: readonly string[];
  readonly split?: SplitOptions;
  resolve(rows: EncodedRows): void;
  reject(error: Error): void;
}

/** A request's chunks and its share of the threads, for fair dispatch. */
interface ChunkedRequest {
  readonly chunks: Chunk[];
  /** Index of the next chunk to dispatch. */
  next: number;
  /** Its chunks on threads now. */
  inFlight: number;
  /** When it last had a chunk dispatched (a counter; 0: never). */
  lastTurn: number;
}

/** What the pool reports about its token cache (GatewayMetrics has them). */
export interface TokenCacheMetrics {
  readonly tokenCacheHits: { inc(value: number): void };
  readonly tokenCacheMisses: { inc(value: number): void };
  readonly tokenCacheBytes: { set(value: number): void };
}

export interface TokenizerPoolOptions {
  /** Bytes of documents' token ids kept for later requests (token-cache.ts); 0, the default, keeps none. */
  readonly cacheBytes?: number;
  readonly metrics?: TokenCacheMetrics;
  /** How a request is cut into chunks (chunks.ts DEFAULT_CHUNK_LIMITS). */
  readonly chunkLimits?: ChunkLimits;
}

// worker.ts compiles next to this file; the pool therefore runs from the build (dist/), tests included.
const workerUrl = new URL("./worker.js", import.meta.url);

/**
 * Worker threads that tokenize requests, so that a large request never holds the event loop: the native
 * tokenizer runs on libuv/rayon threads, the conversion of its output and the pair assembly on these workers;
 * rows come back as transferred typed arrays. bench/tokenizers.ts measured why (event-loop time per request).
 *
 * A request is tokenized in chunks of consecutive documents (chunks.ts). A thread takes one chunk at a time,
 * from the request with the fewest chunks on threads and, among those, the one served longest ago: a small
 * request arriving behind a large one waits for at most one chunk per thread, and a large request alone spreads
 * over every thread.
 *
 * The token cache lives here, in the main thread, so that every thread shares it: a chunk's documents are
 * looked up when it is dispatched, the worker gets the known parts' ids instead of their texts and sends back
 * the parts it tokenized. What that costs the event loop is a SHA-256 of each document and copying ids.
 */
export class TokenizerPool implements RowEncoder {
  private readonly threads: PoolThread[];
  private readonly waiting: ChunkedRequest[] = [];
  private readonly cache: TokenCache | undefined;
  private readonly metrics: TokenCacheMetrics | undefined;
  private readonly chunkLimits: ChunkLimits;
  private nextRequestId = 0;
  private turns = 0;
  private closed = false;
  /** Why the last worker that never answered stopped: what requests get once no worker is left. */
  private lastFailure = new Error("tokenizer pool has no worker thread");

  constructor(threadCount: number, options: TokenizerPoolOptions = {}) {
    if (!Number.isInteger(threadCount) || threadCount < 1) {
      throw new RangeError(`tokenizer thread count must be a positive integer, got ${threadCount}`);
    }
    const cacheBytes = options.cacheBytes ?? 0;
    this.cache = cacheBytes > 0 ? new TokenCache(cacheBytes) : undefined;
    this.metrics = options.metrics;
    this.chunkLimits = options.chunkLimits ?? DEFAULT_CHUNK_LIMITS;
    this.threads = Array.from({ length: threadCount }, () => this.startThread());
  }

  /** Loads and checks every spec's tokenizer in every thread, so that start-up fails on a bad model. */
  async preload(specs: readonly TokenizationSpec[]): Promise<void> {
    await Promise.all(this.liveThreads().flatMap((thread) => specs.map((spec) => this.send(thread, { kind: "prepare", spec }))));
  }

  /**
   * Tokenizes one request for one model: a row per (query, document) pair, or for a bi-encoder the query's
   * row and then one per document. Rejects with an "invalid" GatewayError when the model truncates only_second
   * and the query leaves no room for a document.
   */
  async encodeRows(spec: TokenizationSpec, query: string, documents: readonly string[], split?: SplitOptions) {
    const chunks = await Promise.all(this.encodeChunks(spec, query, documents, { split }));
    return concatChunks(chunks, FAMILIES[spec.family]?.rows === "texts");
  }

  encodeChunks(spec: TokenizationSpec, query: string, documents: readonly string[], options: ChunkOptions = {}) {
    const request: ChunkedRequest = { chunks: [], next: 0, inFlight: 0, lastTurn: 0 };
    const promises = planChunks(query, documents, options.limits ?? this.chunkLimits).map(({ start, end }) =>
      settled(
        new Promise<EncodedRows>((resolve, reject) => {
          request.chunks.push({ spec, query, documents: documents.slice(start, end), split: options.split, resolve, reject });
        }),
      ),
    );
    const { signal } = options;
    if (signal?.aborted) {
      this.dropChunks(request, abortReason(signal));
    } else {
      signal?.addEventListener("abort", () => this.dropChunks(request, abortReason(signal)), { once: true });
      this.waiting.push(request);
      this.dispatch();
    }
    return promises;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map(({ worker }) => worker.terminate()));
    for (const { pending } of this.threads) {
      rejectAll(pending, new Error("tokenizer pool closed"));
    }
    this.dispatch();
  }

  private liveThreads(): PoolThread[] {
    if (this.closed) {
      throw new Error("tokenizer pool closed");
    }
    if (this.threads.length === 0) {
      throw this.lastFailure;
    }
    return this.threads;
  }

  /** Gives idle threads the next chunks; fails every waiting chunk once the pool cannot run any. */
  private dispatch(): void {
    let threads: PoolThread[];
    try {
      threads = this.liveThreads();
    } catch (error) {
      for (const request of [...this.waiting]) this.dropChunks(request, error as Error);
      return;
    }
    for (let thread = threads.find(isIdle); thread; thread = threads.find(isIdle)) {
      const request = this.waiting.reduce<ChunkedRequest | undefined>(
        (best, candidate) =>
          !best ||
          candidate.inFlight < best.inFlight ||
          (candidate.inFlight === best.inFlight && candidate.lastTurn < best.lastTurn)
            ? candidate
            : best,
        undefined,
      );
      if (!request) return;
      const chunk = request.chunks[request.next++]!;
      request.inFlight += 1;
      request.lastTurn = ++this.turns;
      if (request.next === request.chunks.length) this.waiting.splice(this.waiting.indexOf(request), 1);
      void this.encodeChunk(thread, chunk).finally(() => {
        request.inFlight -= 1;
        this.dispatch();
      });
    }
  }

  /** Rejects a request's chunks that no thread took yet. */
  private dropChunks(request: ChunkedRequest, error: Error): void {
    for (const chunk of request.chunks.slice(request.next)) chunk.reject(error);
    request.next = request.chunks.length;
    const index = this.waiting.indexOf(request);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  private async encodeChunk(thread: PoolThread, chunk: Chunk): Promise<void> {
    try {
      chunk.resolve(await this.encodeOn(thread, chunk));
    } catch (error) {
      chunk.reject(error as Error);
    }
  }

  /**
   * One chunk on one thread, through the token cache: known parts go as ids, the others as text. A split request's
   * parts are documents' uncapped ids, cached apart from the capped parts of the same documents.
   */
  private async encodeOn(thread: PoolThread, { spec, query, documents, split }: Chunk): Promise<EncodedRows> {
    const cache = this.cache;
    const settings = `${spec.family}\u0000${spec.maxLength}\u0000${spec.tokenizerFile}${split ? "\u0000split" : ""}`;
    const keys = cache ? documents.map((document) => TokenCache.keyOf(settings, document)) : [];
    const known = new Map<number, DocumentIds>();
    keys.forEach((key, index) => {
      const part = cache?.get(key);
      if (part) known.set(index, part);
    });
    const texts = documents.map((document, index) => (known.has(index) ? null : document));
    for (;;) {
      const packed = known.size > 0 ? packParts(known) : undefined;
      const task: WorkerTask = { kind: "encode", spec, query, documents: texts, known: packed, returnParts: !!cache, split };
      const result = await this.send(thread, task, packedTransferables(packed));
      if ("missing" in result) {
        // Cached first ids too few for this query (a query longer than they are): send those texts.
        for (const index of result.missing) {
          known.delete(index);
          texts[index] = documents[index] ?? "";
        }
        continue;
      }
      if (cache) {
        const tokenized = unpackParts(result.parts);
        for (const [index, part] of tokenized) cache.set(keys[index]!, part);
        this.metrics?.tokenCacheMisses.inc(tokenized.size);
        this.metrics?.tokenCacheHits.inc(documents.length - tokenized.size);
        this.metrics?.tokenCacheBytes.set(cache.stats.bytes);
      }
      if (!result.rows) throw new Error("tokenizer worker answered an encode task without rows");
      return result.rows;
    }
  }

  private send(thread: PoolThread, task: WorkerTask, transfer: ArrayBuffer[] = []): Promise<WorkerResult> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ ...task, id }, transfer);
    });
  }

  private startThread(): PoolThread {
    const thread: PoolThread = { worker: new Worker(workerUrl), pending: new Map(), answered: false };
    thread.worker.on("message", (response: WorkerResponse) => {
      thread.answered = true;
      const request = thread.pending.get(response.id);
      thread.pending.delete(response.id);
      if ("error" in response) {
        request?.reject(fromWireError(response.error));
      } else {
        request?.resolve(response);
      }
    });
    thread.worker.on("error", (error) => {
      thread.error = error;
    });
    // A worker dies only on a bug or out of memory: fail what it held and put a fresh one in its place,
    // unless it never answered (a broken build or native module), which would only fail again.
    thread.worker.on("exit", (exitCode) => {
      if (this.closed) {
        return;
      }
      const failure = new Error(`tokenizer worker stopped: ${thread.error?.message ?? `exit code ${exitCode}`}`);
      rejectAll(thread.pending, failure);
      this.threads.splice(this.threads.indexOf(thread), 1);
      if (thread.answered) {
        this.threads.push(this.startThread());
      } else {
        this.lastFailure = failure;
      }
      this.dispatch();
    });
    return thread;
  }
}

const isIdle = (thread: PoolThread) => thread.pending.size === 0;

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new GatewayError("cancelled", "the request was cancelled");
}

function rejectAll(pending: Map<number, PendingRequest>, error: Error): void {
  for (const request of pending.values()) {
    request.reject(error);
  }
  pending.clear();
}
