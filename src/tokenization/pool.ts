import { Worker } from "node:worker_threads";
import type { RowEncoder, TokenizationSpec } from "./encoder.js";
import type { EncodedRows } from "./encoded-rows.js";
import { fromWireError, type WorkerResponse, type WorkerTask } from "./worker-protocol.js";

interface PendingRequest {
  resolve(rows: EncodedRows | undefined): void;
  reject(error: Error): void;
}

interface PoolThread {
  readonly worker: Worker;
  readonly pending: Map<number, PendingRequest>;
  /** Whether the worker ever answered: proof that it starts, so that replacing it is worth it. */
  answered: boolean;
  error?: Error;
}

// worker.ts compiles next to this file; the pool therefore runs from the build (dist/), tests included.
const workerUrl = new URL("./worker.js", import.meta.url);

/**
 * Worker threads that tokenize requests, so that a large request never holds the event loop: the
 * native tokenizer runs on libuv/rayon threads, the conversion of its output and the pair assembly on
 * these workers. A request goes to the thread with the fewest in flight; its rows come back as
 * transferred typed arrays. bench/tokenizers.ts measured why (event-loop time per request).
 */
export class TokenizerPool implements RowEncoder {
  private readonly threads: PoolThread[];
  private nextRequestId = 0;
  private closed = false;
  /** Why the last worker that never answered stopped: what requests get once no worker is left. */
  private lastFailure = new Error("tokenizer pool has no worker thread");

  constructor(threadCount: number) {
    if (!Number.isInteger(threadCount) || threadCount < 1) {
      throw new RangeError(`tokenizer thread count must be a positive integer, got ${threadCount}`);
    }
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
  async encodeRows(spec: TokenizationSpec, query: string, documents: readonly string[]): Promise<EncodedRows> {
    const leastBusy = this.liveThreads().reduce((least, thread) => (thread.pending.size < least.pending.size ? thread : least));
    const rows = await this.send(leastBusy, { kind: "encode", spec, query, documents });
    return rows as EncodedRows;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map(({ worker }) => worker.terminate()));
    for (const { pending } of this.threads) {
      rejectAll(pending, new Error("tokenizer pool closed"));
    }
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

  private send(thread: PoolThread, task: WorkerTask): Promise<EncodedRows | undefined> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ ...task, id });
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
        request?.resolve(response.rows);
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
    });
    return thread;
  }
}

function rejectAll(pending: Map<number, PendingRequest>, error: Error): void {
  for (const request of pending.values()) {
    request.reject(error);
  }
  pending.clear();
}
