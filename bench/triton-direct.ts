/**
 * The model-only baseline: a request's rows tokenized by the gateway's own tokenizer code, batched and padded by
 * the gateway's planBatches (max_batch_size, the model's length buckets, padding side), and the batches sent
 * straight to Triton's ModelInfer, all at once as the gateway does. Only the ModelInfer calls are timed, so the
 * gateway's latency divided by this is what the gateway adds (gRPC in and out, tokenization, batching).
 */
import { performance } from "node:perf_hooks";
import { FAMILIES } from "../src/catalog/families.js";
import type { ModelSpec } from "../src/catalog/registry.js";
import type { GatewayConfig } from "../src/config/config.js";
import { withTimeout } from "../src/context.js";
import { GatewayMetrics } from "../src/observability/metrics.js";
import { planBatches, type TritonBatch } from "../src/pipeline/batching.js";
import { ModelPipeline } from "../src/pipeline/scorer.js";
import type { TokenizationSpec } from "../src/tokenization/encoder.js";
import { TokenizerPool } from "../src/tokenization/pool.js";
import { TritonClient } from "../src/triton/client.js";
import { TritonEndpoints } from "../src/triton/endpoints.js";

const INFER_TIMEOUT_MS = 600_000;

export interface PreparedRequest {
  spec: ModelSpec;
  batches: TritonBatch[];
  /** Real tokens, and tensor cells once padded. */
  tokens: number;
  cells: number;
}

export class DirectTriton {
  private readonly triton: TritonEndpoints;
  readonly tokenizers: TokenizerPool;

  constructor(private readonly config: GatewayConfig) {
    this.triton = new TritonEndpoints(
      config.tritonUrls.map((url) => new TritonClient(url, config.maxMessageBytes)),
      new GatewayMetrics(),
    );
    this.tokenizers = new TokenizerPool(config.tokenizerThreads);
  }

  /** How the gateway tokenizes for `spec` (the pipeline only supplies the spec; it never runs here). */
  tokenization(spec: ModelSpec): TokenizationSpec {
    return new ModelPipeline(spec, this.config.tokenizerDir, this.tokenizers, this.triton).tokenization;
  }

  async prepare(spec: ModelSpec, query: string, documents: readonly string[]): Promise<PreparedRequest> {
    const encoded = await this.tokenizers.encodeRows(this.tokenization(spec), query, documents);
    const batches = planBatches(encoded, {
      maxBatchSize: spec.triton.maxBatchSize,
      paddingSide: FAMILIES[spec.family].paddingSide,
      padTokenId: spec.padTokenId,
      names: spec.triton.inputs,
      lengthBuckets: spec.triton.lengthBuckets,
    });
    const total = (key: "tokens" | "cells") => batches.reduce((sum, batch) => sum + batch[key], 0);
    return { spec, batches, tokens: total("tokens"), cells: total("cells") };
  }

  /** Milliseconds from sending the batches to the last answer. */
  async infer({ spec, batches }: PreparedRequest): Promise<number> {
    const { model, output } = spec.triton;
    const started = performance.now();
    await withTimeout(INFER_TIMEOUT_MS, (context) =>
      Promise.all(batches.map((batch) => this.triton.infer(model, batch.tensors, output, context))),
    );
    return performance.now() - started;
  }

  async close(): Promise<void> {
    this.triton.close();
    await this.tokenizers.close();
  }
}
