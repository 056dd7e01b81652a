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
import { planBatches, type TritonBatch } from "./batching.js";
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

  async score(request: ScoreRequest, context: RequestContext, budget?: CallBudget): Promise<ScoredDocuments> {
    context.progress.stage = `tokenizing ${request.documents.length} documents for ${this.spec.name}`;
    const tokenizeStart = performance.now();
    const encoded = await this.encoder.encodeRows(this.tokenization, request.query, request.documents);
    const tokenizeMs = performance.now() - tokenizeStart;
    // A bi-encoder's first row is the query's; the others are the documents'.
    const embeds = this.family.output === "embedding";
    const truncated = encoded.truncated.subarray(embeds ? 1 : 0);
    if (!request.truncate) this.rejectOverlong(encoded.queryTruncated, truncated);

    const inferenceStart = performance.now();
    const output = await this.infer(encoded, context, budget);
    const raw = embeds ? cosineToQuery(output, this.spec.triton.outputWidth ?? 1) : output;
    return {
      scores: toScores(raw, { transform: this.family.score, center: this.spec.scoreCenter }, request.rawScores),
      truncated,
      tokens: encoded.tokenCount,
      tokenizeMs,
      inferenceMs: performance.now() - inferenceStart,
    };
  }

  private rejectOverlong(queryTruncated: boolean, truncated: Uint8Array): void {
    if (queryTruncated) {
      throw new GatewayError(
        "invalid",
        `query: it is over model ${this.spec.name}'s limit of ${this.spec.queryMaxLength ?? this.spec.maxLength} query tokens; ` +
          `shorten it or set truncate=true`,
      );
    }
    const index = truncated.indexOf(1);
    if (index < 0) return;
    throw new GatewayError(
      "invalid",
      `document ${index}: with the query it is over model ${this.spec.name}'s maximum of ${this.spec.maxLength} ` +
        `tokens; shorten it or set truncate=true`,
    );
  }

  /** Triton's output for every row of `encoded`, in row order, `outputWidth` values per row. */
  private async infer(encoded: EncodedRows, context: RequestContext, budget?: CallBudget): Promise<Float32Array> {
    const { inputs, output, maxBatchSize, model, outputWidth = 1 } = this.spec.triton;
    const batches = planBatches(encoded, {
      maxBatchSize,
      paddingSide: this.family.paddingSide,
      padTokenId: this.spec.padTokenId,
      names: inputs,
      lengthBuckets: this.spec.triton.lengthBuckets,
    });
    // One failed batch fails the request: cancel its siblings instead of letting them run for nothing.
    const siblings = new AbortController();
    const batchContext = withSignal(context, siblings.signal);
    const values = new Float32Array((encoded.offsets.length - 1) * outputWidth);
    let answered = 0;
    const waiting = () => `waiting for Triton (model ${model}, ${answered} of ${batches.length} batches answered)`;
    context.progress.stage = waiting();
    try {
      await Promise.all(
        batches.map(async (batch) => {
          const rows = await this.timed(batch, budget, () => this.triton.infer(model, batch.tensors, output, batchContext));
          this.metrics?.cellsSent.inc({ model: this.spec.name }, batch.cells);
          this.metrics?.tokensSent.inc({ model: this.spec.name }, batch.tokens);
          answered++;
          context.progress.stage = waiting();
          batch.rows.forEach((source, row) =>
            values.set(rows.subarray(row * outputWidth, (row + 1) * outputWidth), source * outputWidth),
          );
        }),
      );
    } catch (error) {
      siblings.abort();
      throw this.asGatewayError(error, context);
    }
    return values;
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
