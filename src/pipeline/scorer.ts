import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { FAMILIES, type FamilySpec } from "../catalog/families.js";
import type { ModelSpec } from "../catalog/registry.js";
import { abortError, withSignal, type RequestContext } from "../context.js";
import { GatewayError, type ErrorKind } from "../errors.js";
import type { RowEncoder, TokenizationSpec } from "../tokenization/encoder.js";
import type { EncodedRows } from "../tokenization/encoded-rows.js";
import { TritonError, type TritonFailure } from "../triton/client.js";
import type { InferenceBackend } from "../triton/endpoints.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { endSpan, startSpan } from "../observability/tracing.js";
import { BatchAssembler, type RowRef, type TritonBatch } from "./batching.js";
import { cosineToQuery, toScores } from "./score-heads.js";

export interface ScoreRequest {
  query: string;
  documents: string[];
  /** Cut over-long pairs (true) or reject the request naming the first over-long document (false). */
  truncate: boolean;
  /** Return the model's raw scores (logits, cosines) instead of normalized ones. */
  rawScores: boolean;
}

/** How long one Triton call may take, given the padded cells it carries (the routing stage's WorkBudget). */
export interface CallBudget {
  begin(cells: number): CallTicket;
}

export interface CallTicket {
  readonly budgetMs: number;
  /** Reports how the call went: the budget learns from calls that came back within it. */
  end(elapsedMs: number, withinBudget: boolean): void;
}

/** A Triton call that ran past its work's budget: the model is slow, whatever the client's deadline says. */
export class CallOverBudget extends Error {
  override readonly name = "CallOverBudget";

  constructor(model: string, budgetMs: number, cells: number) {
    super(`model ${model} did not answer within the ${Math.round(budgetMs)} ms its work allows (${cells} padded cells)`);
  }
}

export interface ScoredDocuments {
  /** One score per document, in request order: normalized by the family's score head, or raw when asked. */
  scores: Float64Array;
  /** 1 where the document's input was cut to the model's maximum length. */
  truncated: Uint8Array;
  tokens: number;
  tokenizeMs: number;
  inferenceMs: number;
}

/** Where a model's tokenizer file is: the registry's path, under the configured tokenizer folder. */
export function tokenizerFileOf(tokenizerDir: string, spec: ModelSpec): string {
  return join(tokenizerDir, spec.tokenizer);
}

/** What a Triton failure means for the request: the routing stage falls back on "unavailable" and "internal". */
const KIND_OF_FAILURE: Record<TritonFailure, ErrorKind> = {
  unreachable: "unavailable",
  model_not_ready: "unavailable",
  deadline: "timeout",
  cancelled: "cancelled",
  model_failed: "internal",
};

/**
 * One model's pipeline: tokenize → batch for Triton → send the batches concurrently → one score per document
 * (cross-encoders and decoders: the logit; bi-encoders: the cosine with the query), normalized by its score head.
 */
export class ModelPipeline {
  /** How this model's inputs are tokenized; handed to the tokenizer workers with every request. */
  readonly tokenization: TokenizationSpec;
  private readonly family: FamilySpec;

  constructor(
    readonly spec: ModelSpec,
    tokenizerDir: string,
    private readonly encoder: RowEncoder,
    private readonly triton: InferenceBackend,
    private readonly metrics?: GatewayMetrics,
  ) {
    this.tokenization = {
      tokenizerFile: tokenizerFileOf(tokenizerDir, spec),
      family: spec.family,
      maxLength: spec.maxLength,
      truncation: spec.truncation,
      queryMaxLength: spec.queryMaxLength,
    };
    this.family = FAMILIES[spec.family];
  }

  /**
   * Tokenizes the request in chunks (across the tokenizer threads) and sends each Triton batch as soon as its rows
   * are tokenized, so inference of one batch overlaps tokenization of the next. Scores land in their documents'
   * slots whatever order batches answer in; one failed batch cancels the rest and fails the request.
   */
  async score(request: ScoreRequest, context: RequestContext, budget?: CallBudget): Promise<ScoredDocuments> {
    const { model, output, maxBatchSize, outputWidth = 1 } = this.spec.triton;
    const documents = request.documents.length;
    // A bi-encoder's output slot 0 is the query's embedding; slot i + 1 is document i's.
    const embeds = this.family.output === "embedding";
    const firstDocumentSlot = embeds ? 1 : 0;
    const siblings = new AbortController();
    const batchContext = withSignal(context, siblings.signal);
    const assembler = new BatchAssembler({
      maxBatchSize,
      paddingSide: this.family.paddingSide,
      padTokenId: this.spec.padTokenId,
      names: this.spec.triton.inputs,
      lengthBuckets: this.spec.triton.lengthBuckets,
    });
    const values = new Float32Array((documents + firstDocumentSlot) * outputWidth);
    const truncated = new Uint8Array(documents);
    const sent: Promise<void>[] = [];
    let [answered, tokens] = [0, 0];
    const started = performance.now();
    let [tokenizeMs, firstSentAt] = [0, Number.NaN];
    const progress = (tokenizing: boolean) => {
      context.progress.stage =
        `${tokenizing ? `tokenizing ${documents} documents and ` : ""}waiting for Triton ` +
        `(model ${model}, ${answered} of ${sent.length} batches answered)`;
    };
    const send = (batch: TritonBatch) => {
      firstSentAt = Number.isNaN(firstSentAt) ? performance.now() : firstSentAt;
      const call = this.timed(batch, budget, () => this.triton.infer(model, batch.tensors, output, batchContext))
        .then((rows) => {
          if (rows.length !== batch.rows.length * outputWidth) {
            throw new GatewayError(
              "internal",
              `model ${model} returned ${rows.length} values for a batch of ${batch.rows.length} rows ` +
                `(${outputWidth} per row expected)`,
            );
          }
          this.metrics?.cellsSent.inc({ model: this.spec.name }, batch.cells);
          this.metrics?.tokensSent.inc({ model: this.spec.name }, batch.tokens);
          answered++;
          progress(false);
          batch.rows.forEach((slot, row) =>
            values.set(rows.subarray(row * outputWidth, (row + 1) * outputWidth), slot * outputWidth),
          );
        })
        .catch((error: unknown) => {
          // The first failure is the reason: chunk reads and sibling calls stop with it.
          if (!siblings.signal.aborted) siblings.abort(error);
          throw error;
        });
      call.catch(() => {}); // awaited below; a failure must not surface as unhandled while chunks are read
      sent.push(call);
    };

    context.progress.stage = `tokenizing ${documents} documents for ${this.spec.name}`;
    // Triton calls start while later chunks are read: their spans are the tokenize span's siblings.
    const tokenizing = startSpan("tokenize", context, { "tokenize.model": this.spec.name, "tokenize.documents": documents });
    try {
      let nextDocument = 0;
      for (const chunk of this.encoder.encodeChunks(this.tokenization, request.query, request.documents, {
        signal: batchContext.signal,
      })) {
        const rows = await abortable(chunk, siblings.signal);
        truncated.set(rows.truncated.subarray(firstDocumentSlot), nextDocument);
        if (!request.truncate) this.rejectOverlong(rows, nextDocument);
        const refs = rowRefs(rows, nextDocument, embeds);
        tokens += refs.reduce((sum, { row }) => sum + rows.offsets[row + 1]! - rows.offsets[row]!, 0);
        nextDocument += rows.truncated.length - firstDocumentSlot;
        assembler.add(refs).forEach(send);
        progress(true);
      }
      tokenizeMs = performance.now() - started;
      endSpan(tokenizing, { "tokenize.tokens": tokens });
      assembler.flush().forEach(send);
      progress(false);
      await Promise.all(sent);
    } catch (error) {
      endSpan(tokenizing, {}, error);
      if (!siblings.signal.aborted) siblings.abort(error);
      throw this.asGatewayError(siblings.signal.reason, context);
    }
    const raw = embeds ? cosineToQuery(values, outputWidth) : values;
    return {
      scores: toScores(raw, { transform: this.family.score, center: this.spec.scoreCenter }, request.rawScores),
      truncated,
      tokens,
      tokenizeMs,
      inferenceMs: performance.now() - (Number.isNaN(firstSentAt) ? started : firstSentAt),
    };
  }

  /** Rejects a request whose query or a document would be cut, naming the first such document. */
  private rejectOverlong(rows: EncodedRows, firstDocument: number): void {
    if (rows.queryTruncated) {
      throw new GatewayError(
        "invalid",
        `query: it is over model ${this.spec.name}'s limit of ${this.spec.queryMaxLength ?? this.spec.maxLength} query tokens; ` +
          `shorten it or set truncate=true`,
      );
    }
    const index = rows.truncated.subarray(this.family.output === "embedding" ? 1 : 0).indexOf(1);
    if (index < 0) return;
    throw new GatewayError(
      "invalid",
      `document ${firstDocument + index}: with the query it is over model ${this.spec.name}'s maximum of ` +
        `${this.spec.maxLength} tokens; shorten it or set truncate=true`,
    );
  }

  /** Runs one Triton call against its budget: past it, the call fails with CallOverBudget (and is cancelled). */
  private async timed<T>(batch: TritonBatch, budget: CallBudget | undefined, call: () => Promise<T>): Promise<T> {
    if (!budget) return call();
    const { cells } = batch;
    const ticket = budget.begin(cells);
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const overBudget = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CallOverBudget(this.spec.name, ticket.budgetMs, cells)), ticket.budgetMs);
    });
    try {
      const result = await Promise.race([call(), overBudget]);
      ticket.end(performance.now() - started, true);
      return result;
    } catch (error) {
      ticket.end(performance.now() - started, false);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The request's own end (deadline, cancel) wins over how the Triton call reported it. */
  private asGatewayError(error: unknown, context: RequestContext): unknown {
    if (context.signal.aborted) return abortError(context);
    if (error instanceof TritonError && error.failure === "deadline") {
      return new GatewayError("timeout", `the request's deadline passed while ${context.progress.stage}: ${error.message}`);
    }
    if (error instanceof TritonError) return new GatewayError(KIND_OF_FAILURE[error.failure], error.message);
    return error;
  }
}

/**
 * A chunk's rows with the output slot of each: document i's slot is i, or i + 1 after a bi-encoder's query (slot 0).
 * Every bi-encoder chunk starts with the query's row; only the first chunk's is kept.
 */
function rowRefs(rows: EncodedRows, firstDocument: number, embeds: boolean): RowRef[] {
  const first = embeds && firstDocument > 0 ? 1 : 0;
  return Array.from({ length: rows.truncated.length - first }, (_, index) => {
    const row = index + first;
    return { source: rows, row, slot: embeds && row === 0 ? 0 : firstDocument + row };
  });
}

/** `promise`, or the abort of `signal` (a failed batch) if that comes first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
