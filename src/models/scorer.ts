import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { invalidArgument } from "../api/errors.js";
import { planBatches } from "../batching/plan.js";
import type { TritonClient } from "../triton/client.js";
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
  /** One logit per document, in request order. */
  logits: Float32Array;
  /** 1 where the pair was cut to the model's maximum length. */
  truncated: Uint8Array;
  tokens: number;
  tokenizeMs: number;
  inferenceMs: number;
}

/** Runs one model end to end: tokenize the pairs, batch them for Triton, send the batches concurrently. */
export class ModelScorer {
  /** How this model's pairs are tokenized; handed to the tokenizer workers with every request. */
  readonly tokenization: TokenizationSpec;

  constructor(
    readonly spec: ModelSpec,
    tokenizerDir: string,
    private readonly tokenizers: TokenizerPool,
    private readonly triton: TritonClient,
  ) {
    this.tokenization = {
      tokenizerFile: join(tokenizerDir, spec.tokenizer),
      template: spec.family,
      maxLength: spec.maxLength,
      truncation: spec.truncation,
    };
  }

  async score(request: ScoreRequest): Promise<ScoredPairs> {
    const tokenizeStart = performance.now();
    const encoded = await this.tokenizers.encodePairs(this.tokenization, request.query, request.documents);
    const tokenizeMs = performance.now() - tokenizeStart;
    if (!request.truncate) this.rejectOverlong(encoded.truncated);

    const inferenceStart = performance.now();
    const logits = await this.infer(encoded, request);
    return {
      logits,
      truncated: encoded.truncated,
      tokens: encoded.tokenCount,
      tokenizeMs,
      inferenceMs: performance.now() - inferenceStart,
    };
  }

  private rejectOverlong(truncated: Uint8Array): void {
    const index = truncated.indexOf(1);
    if (index < 0) return;
    throw invalidArgument(
      `document ${index}: with the query it is over model ${this.spec.name}'s maximum of ${this.spec.maxLength} ` +
        `tokens; shorten it or set truncate=true`,
    );
  }

  private async infer(encoded: EncodedBatch, request: ScoreRequest): Promise<Float32Array> {
    const { triton, inputs, output, maxBatchSize, model } = { ...this.spec.triton, triton: this.triton };
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
    const logits = new Float32Array(encoded.offsets.length - 1);
    try {
      await Promise.all(
        batches.map(async (batch) => {
          const values = await triton.infer(model, batch.tensors, output, { deadline: request.deadline, signal });
          batch.pairs.forEach((pair, row) => (logits[pair] = values[row]!));
        }),
      );
    } catch (error) {
      siblings.abort();
      throw error;
    }
    return logits;
  }
}
