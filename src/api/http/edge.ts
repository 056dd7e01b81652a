import type { FastifyReply, FastifyRequest } from "fastify";
import { Type, type TSchema } from "typebox";
import type { ModelSummary, RerankOutcome } from "../reranker.js";
import type { RerankInput } from "../validation.js";

/** What the HTTP routes need of the gateway: the shared Reranker, run in the HTTP request's context. */
export interface HttpEdge {
  /** Validates, routes, ranks and counts `input` (api label "http") under the request's deadline and cancel. */
  rerank(request: FastifyRequest, reply: FastifyReply, input: RerankInput): Promise<RerankOutcome>;
  models(): ModelSummary[];
}

/**
 * An optional field that may also be null: SDKs send an explicit None as null (Cohere's Python SDK omits only
 * arguments left out).
 */
export const optionalOrNull = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/** The route config field that picks the error body shape of a route (see server.ts's error handler). */
export type ErrorShape = "cohere" | "tei";
