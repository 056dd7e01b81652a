import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { FAMILIES, type FamilySpec } from "../catalog/families.js";
import type { ModelSpec } from "../catalog/registry.js";
import { abortError, withSignal, type RequestContext } from "../context.js";
import { GatewayError, type ErrorKind } from "../errors.js";
import type { RowEncoder, TokenizationSpec } from "../tokenization/encoder.js";
import type { EncodedRows } from "../tokenization/encoded-rows.js";
import { tooManyWindows, type SplitOptions } from "../tokenization/windows.js";
import { TritonError, type TritonFailure } from "../triton/client.js";
import type { InferenceBackend } from "../triton/endpoints.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { endSpan, startSpan } from "../observability/tracing.js";
import { BatchAssembler, type RowRef, type TritonBatch } from "./batching.js";
import { bestOfWindows, cosineToQuery, toScores } from "./score-heads.js";

export interface ScoreRequest {
  query: string;
  documents: string[];
  /** Cut over-long pairs (true) or reject the request naming the first over-long document (false). */
  truncate: boolean;
  /** Return the model's raw scores (logits, cosines) instead of normalized ones. */
  rawScores: boolean;
  /**
   * long_documents=split_max: a document too long for the pair is scored in windows and gets its best window's
   * score; `truncate` then applies to the query only.
   */
  split?: SplitOptions;
}

/** How long one Triton call may take, given the padded cells it carries (the routing stage's WorkBudget). */
export interface CallBudget {
  /**
   * `alongside`: cells of the calls sent together with this one after it. Triton may run them in the same execution,
   * so that this call answers only when they are done too.
   */
  begin(cells: number, alongside?: number): CallTicket;
}

export interface CallTicket {
  readonly budgetMs: number;
  /** Reports how the call went: the budget learns from calls that came back within it. */
  end(elapsedMs: number, withinBudget: boolean): void;
}

/**
 * Takes a split request's rows (its windows, which tokenization counts) on the model's capacity before any is sent;
 * throws an "overloaded" GatewayError when they do not fit.
 */
export type RowAdmission = (rows: number) => void;

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
  /** 1 where the document's input (or the query) was cut: to the model's maximum length, or max_tokens_per_document. */
  truncated: Uint8Array;
  /** Per document, the windows it was scored in: 1 unless split. */
  windows: Int32Array;
  /** Per document, the window (0-based) whose score is the document's. */
  bestWindow: Int32Array;
  /** Rows scored besides a bi-encoder's query: one per document, or per window. */
  pairs: number;
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
      windowOverlap: spec.windowOverlap,
    };
    this.family = FAMILIES[spec.family];
  }

  /**
   * Tokenizes the request in chunks (across the tokenizer threads) and sends each Triton batch as soon as its rows
   * are tokenized, so inference of one batch overlaps tokenization of the next. Scores land in their rows' slots
   * whatever order batches answer in; one failed batch cancels the rest and fails the request. A split request's
   * rows are counted first (its windows against split.maxWindows, then `admit`), so none is sent before it is
   * known to be served; a document's score is then its best window's.
   */
  async score(
    request: ScoreRequest,
    context: RequestContext,
    budget?: CallBudget,
    admit?: RowAdmission,
  ): Promise<ScoredDocuments> {
    const { model, output, maxBatchSize, outputWidth = 1 } = this.spec.triton;
    const { split } = request;
    const documents = request.documents.length;
    // A bi-encoder's output slot 0 is the query's embedding; its document rows come after.
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
    const answers: { slots: readonly number[]; values: Float32Array }[] = [];
    const rowTruncated: Uint8Array[] = [];
    const windows = new Int32Array(documents).fill(1);
    const held: RowRef[] = [];
    const sent: Promise<void>[] = [];
    let [answered, tokens, nextSlot] = [0, 0, firstDocumentSlot];
    const started = performance.now();
    let [tokenizeMs, firstSentAt] = [0, Number.NaN];
    const progress = (tokenizing: boolean) => {
      context.progress.stage =
        `${tokenizing ? `tokenizing ${documents} documents and ` : ""}waiting for Triton ` +
        `(model ${model}, ${answered} of ${sent.length} batches answered)`;
    };
    // Batches sent together reach Triton together, and it may run them as one execution: each is budgeted with all
    // of them in flight.
    const send = (batches: readonly TritonBatch[]) => {
      let later = batches.reduce((sum, batch) => sum + batch.cells, 0);
      const tickets = batches.map((batch) => budget?.begin(batch.cells, (later -= batch.cells)));
      batches.forEach((batch, index) => sendOne(batch, tickets[index]));
    };
    const sendOne = (batch: TritonBatch, ticket: CallTicket | undefined) => {
      firstSentAt = Number.isNaN(firstSentAt) ? performance.now() : firstSentAt;
      const call = this.timed(batch, ticket, () => this.triton.infer(model, batch.tensors, output, batchContext))
        .then((values) => {
          if (values.length !== batch.rows.length * outputWidth) {
            throw new GatewayError(
              "internal",
              `model ${model} returned ${values.length} values for a batch of ${batch.rows.length} rows ` +
                `(${outputWidth} per row expected)`,
            );
          }
          this.metrics?.cellsSent.inc({ model: this.spec.name }, batch.cells);
          this.metrics?.tokensSent.inc({ model: this.spec.name }, batch.tokens);
          answered++;
          progress(false);
          answers.push({ slots: batch.rows, values });
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
        split,
      })) {
        const rows = await abortable(chunk, siblings.signal);
        if (!request.truncate) this.rejectOverlong(rows, nextDocument, split !== undefined);
        const refs = rowRefs(rows, nextSlot, embeds);
        rowTruncated.push(rows.truncated.subarray(firstDocumentSlot));
        if (rows.windows) windows.set(rows.windows, nextDocument);
        tokens += refs.reduce((sum, { row }) => sum + rows.offsets[row + 1]! - rows.offsets[row]!, 0);
        nextDocument += rows.windows?.length ?? rows.truncated.length - firstDocumentSlot;
        nextSlot += rows.truncated.length - firstDocumentSlot;
        if (split) held.push(...refs);
        else send(assembler.add(refs));
        progress(true);
      }
      tokenizeMs = performance.now() - started;
      endSpan(tokenizing, { "tokenize.tokens": tokens });
      if (split) {
        const pairs = nextSlot - firstDocumentSlot;
        if (pairs > split.maxWindows) throw tooManyWindows(pairs, split.maxWindows);
        admit?.(pairs);
      }
      send([...assembler.add(held), ...assembler.flush()]);
      progress(false);
      await Promise.all(sent);
    } catch (error) {
      endSpan(tokenizing, {}, error);
      if (!siblings.signal.aborted) siblings.abort(error);
      throw this.asGatewayError(siblings.signal.reason, context);
    }
    const values = new Float32Array(nextSlot * outputWidth);
    for (const answer of answers) {
      answer.slots.forEach((slot, row) =>
        values.set(answer.values.subarray(row * outputWidth, (row + 1) * outputWidth), slot * outputWidth),
      );
    }
    const best = bestOfWindows(embeds ? cosineToQuery(values, outputWidth) : values, windows, Buffer.concat(rowTruncated));
    return {
      scores: toScores(best.scores, { transform: this.family.score, center: this.spec.scoreCenter }, request.rawScores),
      truncated: best.truncated,
      windows,
      bestWindow: best.bestWindow,
      pairs: nextSlot - firstDocumentSlot,
      tokens,
      tokenizeMs,
      inferenceMs: performance.now() - (Number.isNaN(firstSentAt) ? started : firstSentAt),
    };
  }

  /**
   * Rejects a request whose query or a document would be cut, naming the first such document. Split documents are
   * windowed, not cut (max_tokens_per_document drops only what the client asked to): only the query counts.
   */
  private rejectOverlong(rows: EncodedRows, firstDocument: number, split: boolean): void {
    const { name, queryMaxLength, maxLength } = this.spec;
    if (rows.queryTruncated) {
      const limit =
        split && queryMaxLength === undefined && this.family.rows === "pairs"
          ? `model ${name} keeps at most half of its ${maxLength} tokens for the query beside a long document's windows`
          : `it is over model ${name}'s limit of ${queryMaxLength ?? maxLength} query tokens`;
      throw new GatewayError("invalid", `query: ${limit}; shorten it or set truncate=true`);
    }
    const index = split ? -1 : rows.truncated.subarray(this.family.output === "embedding" ? 1 : 0).indexOf(1);
    if (index < 0) return;
    throw new GatewayError(
      "invalid",
      `document ${firstDocument + index}: with the query it is over model ${name}'s maximum of ` +
        `${maxLength} tokens; shorten it or set truncate=true, or long_documents=split_max to score it in windows`,
    );
  }

  /** Runs one Triton call against its budget: past it, the call fails with CallOverBudget (and is cancelled). */
  private async timed<T>(batch: TritonBatch, ticket: CallTicket | undefined, call: () => Promise<T>): Promise<T> {
    if (!ticket) return call();
    const { cells } = batch;
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
 * A chunk's rows with the output slot of each: its document rows (or windows) take the slots from `firstSlot` on.
 * Every bi-encoder chunk starts with the query's row; only the first chunk's is kept, in slot 0.
 */
function rowRefs(rows: EncodedRows, firstSlot: number, embeds: boolean): RowRef[] {
  const first = embeds && firstSlot > 1 ? 1 : 0;
  const firstDocumentRow = embeds ? 1 : 0;
  return Array.from({ length: rows.truncated.length - first }, (_, index) => {
    const row = index + first;
    return { source: rows, row, slot: embeds && row === 0 ? 0 : firstSlot + row - firstDocumentRow };
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
