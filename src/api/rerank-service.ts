import { performance } from "node:perf_hooks";
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import type {
  ListModelsRequest,
  ListModelsResponse,
  RerankRequest,
  RerankResponse,
  RerankServiceServer,
} from "../gen/rerank/v1/rerank.js";
import type { Registry } from "../models/registry.js";
import { toScores } from "../models/score-heads.js";
import { log } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { Router } from "../routing/router.js";
import type { ModelReadiness } from "../triton/readiness.js";
import { GatewayError } from "./errors.js";
import { rank } from "./ranking.js";
import { validateRerank } from "./validation.js";

export interface RerankServiceDeps {
  registry: Registry;
  router: Router;
  readiness: ModelReadiness;
  metrics: GatewayMetrics;
  maxDocuments: number;
  defaultTimeoutMs: number;
}

function toServiceError(error: unknown, method: string): Partial<ServiceError> {
  if (error instanceof GatewayError) {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(error.trailers)) metadata.set(key, value);
    return { code: error.code, details: error.message, metadata };
  }
  log.error("unexpected error", { method, error: (error as Error)?.stack ?? String(error) });
  return { code: status.INTERNAL, details: `internal error: ${(error as Error)?.message ?? String(error)}` };
}

/** The client's deadline, capped by the gateway's default so a call without one cannot hang forever. */
function deadlineOf(call: ServerUnaryCall<unknown, unknown>, defaultTimeoutMs: number): Date {
  const fallback = Date.now() + defaultTimeoutMs;
  const deadline = call.getDeadline();
  const clientMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return new Date(Number.isFinite(clientMs) ? Math.min(clientMs, fallback) : fallback);
}

/** Aborts when the client cancels, so in-flight Triton calls are cancelled with it. */
function cancellationOf(call: ServerUnaryCall<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  call.once("cancelled", () => controller.abort());
  return controller.signal;
}

export function rerankService(deps: RerankServiceDeps): RerankServiceServer {
  async function rerank(call: ServerUnaryCall<RerankRequest, RerankResponse>): Promise<RerankResponse> {
    const started = performance.now();
    const request = validateRerank(call.request, deps.registry, deps.maxDocuments);
    const { scorer, scored, degradedReason } = await deps.router.score({
      model: request.model,
      query: request.query,
      documents: request.documents,
      truncate: request.truncate,
      disableFallback: request.disableFallback,
      deadline: deadlineOf(call, deps.defaultTimeoutMs),
      signal: cancellationOf(call),
    });
    const scores = toScores(scored.logits, scorer.spec, request.rawScores);
    const totalMs = performance.now() - started;
    const model = scorer.spec.name;
    deps.metrics.stageSeconds.observe({ model, stage: "tokenize" }, scored.tokenizeMs / 1000);
    deps.metrics.stageSeconds.observe({ model, stage: "infer" }, scored.inferenceMs / 1000);
    deps.metrics.stageSeconds.observe({ model, stage: "total" }, totalMs / 1000);
    return {
      results: rank(scores, scored.truncated, request.topN, request.returnDocuments ? request.documents : undefined),
      model,
      requestedModel: request.model,
      degraded: model !== request.model,
      degradedReason,
      usage: { pairs: request.documents.length, tokens: scored.tokens },
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
      rerank(call).then(
        (response) => {
          deps.metrics.requests.inc({ model: response.model, code: "OK" });
          callback(null, response);
        },
        (error) => {
          const failure = toServiceError(error, "Rerank");
          const model = call.request.model || deps.registry.defaultModel;
          deps.metrics.requests.inc({ model, code: status[failure.code ?? status.INTERNAL] });
          callback(failure);
        },
      );
    },
    listModels(_call: ServerUnaryCall<ListModelsRequest, ListModelsResponse>, callback: sendUnaryData<ListModelsResponse>) {
      callback(null, listModels());
    },
  };
}
