import type { Metadata, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import {
  DegradedReason,
  LongDocuments,
  type ListModelsRequest,
  type ListModelsResponse,
  type RerankRequest,
  type RerankResponse,
  type RerankServiceServer,
} from "../gen/rerank/v1/rerank.js";
import type { DegradedReason as RoutingDegradedReason } from "../routing/router.js";
import type { Access, HeaderReader } from "./auth/access.js";
import { contextOf } from "./request-context.js";
import type { Reranker, RerankOutcome } from "./reranker.js";
import { toServiceError } from "./status.js";
import type { RerankInput } from "./validation.js";

const WIRE_DEGRADED_REASON: Record<RoutingDegradedReason, DegradedReason> = {
  breaker_open: DegradedReason.DEGRADED_REASON_BREAKER_OPEN,
  over_capacity: DegradedReason.DEGRADED_REASON_OVER_CAPACITY,
  timeout: DegradedReason.DEGRADED_REASON_TIMEOUT,
  primary_unavailable: DegradedReason.DEGRADED_REASON_PRIMARY_UNAVAILABLE,
};

/** The wire request as the Reranker takes it; an unknown long_documents number is left for validation to name. */
function fromWire(request: RerankRequest): RerankInput {
  const longDocuments =
    request.longDocuments === LongDocuments.LONG_DOCUMENTS_SPLIT_MAX
      ? "split_max"
      : request.longDocuments === LongDocuments.LONG_DOCUMENTS_TRUNCATE ||
          request.longDocuments === LongDocuments.LONG_DOCUMENTS_UNSPECIFIED
        ? "truncate"
        : String(request.longDocuments);
  return { ...request, longDocuments };
}

function toWire(outcome: RerankOutcome): RerankResponse {
  return {
    results: outcome.results,
    model: outcome.model,
    requestedModel: outcome.requestedModel,
    degraded: outcome.degradedReason !== undefined,
    degradedReason: outcome.degradedReason
      ? WIRE_DEGRADED_REASON[outcome.degradedReason]
      : DegradedReason.DEGRADED_REASON_UNSPECIFIED,
    usage: outcome.usage,
    timing: outcome.timing,
  };
}

const headersOf =
  (metadata: Metadata): HeaderReader =>
  (name) =>
    metadata.get(name)[0]?.toString();

/** rerank.v1.RerankService: the gRPC edge of the Reranker, behind the API keys and quotas of `access`. */
export function rerankService(reranker: Reranker, defaultTimeoutMs: number, access: Access): RerankServiceServer {
  return {
    rerank(call: ServerUnaryCall<RerankRequest, RerankResponse>, callback: sendUnaryData<RerankResponse>) {
      const scope = contextOf(call, defaultTimeoutMs);
      const answer = async () => {
        const caller = access.authenticate(headersOf(call.metadata), "grpc");
        const work = () => reranker.rerank(fromWire(call.request), scope.context, "grpc");
        return access.rerank(caller, call.request.documents.length, work);
      };
      answer()
        .then(
          (outcome) => callback(null, toWire(outcome)),
          (error) => callback(toServiceError(error, scope.context.requestId, "Rerank")),
        )
        .finally(scope.close);
    },
    listModels(call: ServerUnaryCall<ListModelsRequest, ListModelsResponse>, callback: sendUnaryData<ListModelsResponse>) {
      try {
        access.authenticate(headersOf(call.metadata), "grpc");
      } catch (error) {
        callback(toServiceError(error, "", "ListModels"));
        return;
      }
      callback(null, { models: reranker.models().map((model) => ({ ...model, fallback: model.fallback ?? "" })) });
    },
  };
}
