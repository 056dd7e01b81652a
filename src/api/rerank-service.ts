import { performance } from "node:perf_hooks";
import { status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { Registry } from "../catalog/registry.js";
import type { RequestContext } from "../context.js";
import {
  DegradedReason,
  type ListModelsRequest,
  type ListModelsResponse,
  type RerankRequest,
  type RerankResponse,
  type RerankServiceServer,
} from "../gen/rerank/v1/rerank.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { DegradedReason as RoutingDegradedReason, Router } from "../routing/router.js";
import type { ModelReadiness } from "../triton/readiness.js";
import { rank } from "./ranking.js";
import { contextOf } from "./request-context.js";
import { toServiceError } from "./status.js";
import { validateRerank } from "./validation.js";

export interface RerankServiceDeps {
  registry: Registry;
  router: Router;
  readiness: ModelReadiness;
  metrics: GatewayMetrics;
  maxDocuments: number;
  /** Largest document in UTF-8 bytes (validation.ts's default when absent). */
  maxDocumentBytes?: number;
  defaultTimeoutMs: number;
}

const WIRE_DEGRADED_REASON: Record<RoutingDegradedReason, DegradedReason> = {
  breaker_open: DegradedReason.DEGRADED_REASON_BREAKER_OPEN,
  over_capacity: DegradedReason.DEGRADED_REASON_OVER_CAPACITY,
  timeout: DegradedReason.DEGRADED_REASON_TIMEOUT,
  primary_unavailable: DegradedReason.DEGRADED_REASON_PRIMARY_UNAVAILABLE,
};

export function rerankService(deps: RerankServiceDeps): RerankServiceServer {
  async function rerank(request: RerankRequest, context: RequestContext): Promise<RerankResponse> {
    const started = performance.now();
    const valid = validateRerank(request, deps.registry, deps.maxDocuments, deps.maxDocumentBytes);
    const { model, scored, degradedReason } = await deps.router.score(valid, context);
    const totalMs = performance.now() - started;
    deps.metrics.stageSeconds.observe({ model, stage: "tokenize" }, scored.tokenizeMs / 1000);
    deps.metrics.stageSeconds.observe({ model, stage: "infer" }, scored.inferenceMs / 1000);
    deps.metrics.stageSeconds.observe({ model, stage: "total" }, totalMs / 1000);
    return {
      results: rank(scored.scores, scored.truncated, valid.topN, valid.returnDocuments ? valid.documents : undefined),
      model,
      requestedModel: valid.model,
      degraded: model !== valid.model,
      degradedReason: degradedReason ? WIRE_DEGRADED_REASON[degradedReason] : DegradedReason.DEGRADED_REASON_UNSPECIFIED,
      usage: { pairs: valid.documents.length, tokens: scored.tokens },
      timing: { tokenizeMs: scored.tokenizeMs, inferenceMs: scored.inferenceMs, totalMs },
    };
  }

  function listModels(): ListModelsResponse {
    return {
      models: [...deps.registry.models.values()].map((spec) => ({
        name: spec.name,
        family: spec.family,
        maxLength: spec.maxLength,
        ready: deps.readiness.isReady(spec.name),
        fallback: spec.fallback ?? "",
        isDefault: spec.name === deps.registry.defaultModel,
      })),
    };
  }

  return {
    rerank(call: ServerUnaryCall<RerankRequest, RerankResponse>, callback: sendUnaryData<RerankResponse>) {
      const scope = contextOf(call, deps.defaultTimeoutMs);
      rerank(call.request, scope.context)
        .then(
          (response) => {
            deps.metrics.requests.inc({ model: response.model, code: "OK" });
            callback(null, response);
          },
          (error) => {
            const failure = toServiceError(error, scope.context.requestId, "Rerank");
            const model = call.request.model || deps.registry.defaultModel;
            deps.metrics.requests.inc({ model, code: status[failure.code ?? status.INTERNAL] });
            callback(failure);
          },
        )
        .finally(scope.close);
    },
    listModels(_call: ServerUnaryCall<ListModelsRequest, ListModelsResponse>, callback: sendUnaryData<ListModelsResponse>) {
      callback(null, listModels());
    },
  };
}
