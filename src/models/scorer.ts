import { setMaxListeners } from "node:events";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { invalidArgument } from "../api/errors.js";
import { planBatches } from "../batching/plan.js";
import type { TritonEndpoints } from "../triton/endpoints.js";
import { familyOf, type ModelSpec } from "./registry.js";
import type { EncodedBatch } from "./tokenization/encoded-batch.js";
import type { TokenizationSpec } from "./tokenization/encoder.js";
import type { TokenizerPool } from "./tokenization/pool.js";

export interface ScoreRequest {
  query: string;
  documents: string[];
  /** Cut over-long pairs (true) or reject the request naming the first over-long document (false). */
  truncate: boolean;
  deadline: Date;
  signal: AbortSignal;
}

export interface ScoredPairs {
  /** One raw score per document, in request order: the model's logit, or the cosine for a bi-encoder. */
  logits: Float32Array;
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

/** Cosine of row 0 (the query) with every other row; the model's embeddings are already L2-normalized. */
function cosineToQuery(embeddings: Float32Array, width: number): Float32Array {
  const rows = embeddings.length / width;
  const scores = new Float32Array(rows - 1);
  for (let row = 1; row < rows; row++) {
    let dot = 0;
    for (let i = 0; i < width; i++) dot += embeddings[i]! * embeddings[row * width + i]!;
    scores[row - 1] = dot;
  }
  return scores;
}

/**
 * Runs one model end to end: tokenize, batch for Triton, send the batches concurrently, and reduce Triton's
 * output to one raw score per document (cross-encoders and decoders: the logit; bi-encoders: the cosine).
 */
export class ModelScorer {
  /** How this model's inputs are tokenized; handed to the tokenizer workers with every request. */
  readonly tokenization: TokenizationSpec;
  private readonly embeds: boolean;

  constructor(
    readonly spec: ModelSpec,
    tokenizerDir: string,
    private readonly tokenizers: TokenizerPool,
    private readonly triton: TritonEndpoints,
  ) {
    this.tokenization = {
      tokenizerFile: tokenizerFileOf(tokenizerDir, spec),
      template: spec.family,
      maxLength: spec.maxLength,
      truncation: spec.truncation,
      queryMaxLength: spec.queryMaxLength,
    };
    // A bi-encoder's tokenizer returns the query as row 0, then one row per document.
    this.embeds = familyOf(spec).output === "embedding";
  }

  async score(request: ScoreRequest): Promise<ScoredPairs> {
    const tokenizeStart = performance.now();
    const encoded = await this.tokenizers.encodePairs(this.tokenization, request.query, request.documents);
    const tokenizeMs = performance.now() - tokenizeStart;
    const documentRows = this.embeds ? 1 : 0;
    const truncated = encoded.truncated.subarray(documentRows);
    if (!request.truncate) this.rejectOverlong(encoded.queryTruncated, truncated);

    const inferenceStart = performance.now();
    const output = await this.infer(encoded, request);
    return {
      logits: this.embeds ? cosineToQuery(output, this.spec.triton.outputWidth ?? 1) : output,
      truncated,
      tokens: encoded.tokenCount,
      tokenizeMs,
      inferenceMs: performance.now() - inferenceStart,
    };
  }

  private rejectOverlong(queryTruncated: boolean, truncated: Uint8Array): void {
    if (queryTruncated) {
      throw invalidArgument(
        `query: it is over model ${this.spec.name}'s limit of ${this.spec.queryMaxLength ?? this.spec.maxLength} query tokens; ` +
          `shorten it or set truncate=true`,
      );
    }
    const index = truncated.indexOf(1);
    if (index < 0) return;
    throw invalidArgument(
      `document ${index}: with the query it is over model ${this.spec.name}'s maximum of ${this.spec.maxLength} ` +
        `tokens; shorten it or set truncate=true`,
    );
  }

  /** Triton's output for every row of `encoded`, in row order, `outputWidth` values per row. */
  private async infer(encoded: EncodedBatch, request: ScoreRequest): Promise<Float32Array> {
    const { inputs, output, maxBatchSize, model, outputWidth = 1 } = this.spec.triton;
    const batches = planBatches(encoded, {
      maxBatchSize,
      paddingSide: familyOf(this.spec).paddingSide,
      padTokenId: this.spec.padTokenId,
      names: inputs,
    });
    // One failed batch fails the request: cancel its siblings instead of letting them run for nothing.
    const siblings = new AbortController();
    const signal = AbortSignal.any([request.signal, siblings.signal]);
    // Each concurrent batch listens for cancellation; a 1000-document request has dozens.
    setMaxListeners(batches.length + 1, signal);
    const values = new Float32Array((encoded.offsets.length - 1) * outputWidth);
    try {
      await Promise.all(
        batches.map(async (batch) => {
          const rows = await this.triton.infer(model, batch.tensors, output, { deadline: request.deadline, signal });
          batch.pairs.forEach((pair, row) =>
            values.set(rows.subarray(row * outputWidth, (row + 1) * outputWidth), pair * outputWidth),
          );
        }),
      );
    } catch (error) {
      siblings.abort();
      throw error;
    }
    return values;
  }
}
