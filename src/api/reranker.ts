import { performance } from "node:perf_hooks";
import type { Registry } from "../catalog/registry.js";
import type { RequestContext } from "../context.js";
import { log } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { inSpan, SpanKind } from "../observability/tracing.js";
import type { DegradedReason, Router } from "../routing/router.js";
import type { ModelReadiness } from "../triton/readiness.js";
import type { Drain } from "./drain.js";
import { rank, type RankedDocument } from "./ranking.js";
import { statusName } from "./status.js";
import { validateRerank, type RerankInput } from "./validation.js";

export interface RerankerDeps {
  registry: Registry;
  router: Router;
  readiness: ModelReadiness;
  metrics: GatewayMetrics;
  maxDocuments: number;
  /** Largest document in UTF-8 bytes (validation.ts's default when absent). */
  maxDocumentBytes?: number;
  /** Counts calls in flight and refuses new ones once the gateway drains (absent where it never shuts down). */
  drain?: Drain;
  /** Most windows a long_documents=split_max request may make (default: WINDOWS_PER_DOCUMENT × maxDocuments). */
  maxWindowsPerRequest?: number;
}

/**
 * Windows per document that the default bound allows on average: a full request of documents eight windows long
 * (about 1,600 tokens on all-MiniLM-L6-v2, 3,100 on a 512-token cross-encoder) fits, at eight times the rows of a
 * request without split_max; the 8 MiB message limit bounds the tokens anyway.
 */
export const WINDOWS_PER_DOCUMENT = 8;

/** A request's answer, before either edge shapes it for its wire. */
export interface RerankOutcome {
  /** Sorted by score, highest first; equal scores keep first-stage order. */
  results: RankedDocument[];
  /** The model that scored the request. */
  model: string;
  /** The model asked for (or the default). */
  requestedModel: string;
  /** Set when a model further down the fallback chain scored the request. */
  degradedReason?: DegradedReason;
  usage: { pairs: number; tokens: number };
  timing: { tokenizeMs: number; inferenceMs: number; totalMs: number };
}

export interface ModelSummary {
  name: string;
  family: string;
  maxLength: number;
  ready: boolean;
  /** The model it falls back to; null at the end of its chain. */
  fallback: string | null;
  isDefault: boolean;
}

/** Which edge a request came through: a label of the request metrics. */
export type Api = "grpc" | "http";

/**
 * What both APIs do for a rerank request: validate, route (fallback chain), rank, and count it. The edges only
 * translate their wire shapes to RerankInput and RerankOutcome (and errors to their statuses).
 */
export class Reranker {
  constructor(private readonly deps: RerankerDeps) {}

  rerank(input: RerankInput, context: RequestContext, api: Api): Promise<RerankOutcome> {
    const { deps } = this;
    const attributes = { "rerank.api": api, "rerank.request_id": context.requestId, "rerank.documents": input.documents.length };
    return inSpan(
      "rerank",
      context,
      attributes,
      async (spanContext, span) => {
        try {
          const score = () => this.score(input, spanContext);
          const outcome = await (deps.drain ? deps.drain.run(score) : score());
          deps.metrics.requests.inc({ model: outcome.model, code: "OK", api });
          span.setAttributes({
            "rerank.model.requested": outcome.requestedModel,
            "rerank.model.served": outcome.model,
            "rerank.degraded": outcome.degradedReason !== undefined,
            ...(outcome.degradedReason && { "rerank.degraded_reason": outcome.degradedReason }),
          });
          log.debug("rerank answered", { model: outcome.model, degradedReason: outcome.degradedReason, api }, spanContext);
          return outcome;
        } catch (error) {
          deps.metrics.requests.inc({ model: input.model || deps.registry.defaultModel, code: statusName(error), api });
          log.debug("rerank failed", { code: statusName(error), api }, spanContext);
          throw error;
        }
      },
      SpanKind.SERVER,
    );
  }

  private async score(input: RerankInput, context: RequestContext): Promise<RerankOutcome> {
    const { deps } = this;
    const started = performance.now();
    const valid = inSpan("validate", context, {}, () =>
      validateRerank(input, deps.registry, deps.maxDocuments, deps.maxDocumentBytes),
    );
    const maxWindows = deps.maxWindowsPerRequest ?? WINDOWS_PER_DOCUMENT * deps.maxDocuments;
    const split =
      valid.longDocuments === "split_max" ? { maxTokensPerDocument: valid.maxTokensPerDocument, maxWindows } : undefined;
    const { model, scored, degradedReason } = await deps.router.score({ ...valid, split }, context);
    const totalMs = performance.now() - started;
    deps.metrics.stageSeconds.observe({ model, stage: "tokenize" }, scored.tokenizeMs / 1000);
    deps.metrics.stageSeconds.observe({ model, stage: "infer" }, scored.inferenceMs / 1000);
    deps.metrics.stageSeconds.observe({ model, stage: "total" }, totalMs / 1000);
    return {
      results: rank(scored, valid.topN, valid.returnDocuments ? valid.documents : undefined),
      model,
      requestedModel: valid.model,
      degradedReason,
      usage: { pairs: scored.pairs, tokens: scored.tokens },
      timing: { tokenizeMs: scored.tokenizeMs, inferenceMs: scored.inferenceMs, totalMs },
    };
  }

  models(): ModelSummary[] {
    const { registry, readiness } = this.deps;
    return [...registry.models.values()].map((spec) => ({
      name: spec.name,
      family: spec.family,
      maxLength: spec.maxLength,
      ready: readiness.isReady(spec.name),
      fallback: spec.fallback ?? null,
      isDefault: spec.name === registry.defaultModel,
    }));
  }

  get defaultModel(): string {
    return this.deps.registry.defaultModel;
  }
}
