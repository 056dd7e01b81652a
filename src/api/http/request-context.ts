import type { FastifyReply, FastifyRequest } from "fastify";
import { openContext, type ContextScope } from "../../context.js";
import { GatewayError } from "../../errors.js";
import { extractTrace } from "../../observability/tracing.js";

/**
 * A client may shorten its request's deadline with this header (milliseconds), as a gRPC client sets its deadline;
 * RERANK_DEFAULT_TIMEOUT_MS stays the longest any request may run.
 */
export const TIMEOUT_HEADER = "x-request-timeout-ms";

function timeoutOf(request: FastifyRequest, defaultTimeoutMs: number): number {
  const asked = request.headers[TIMEOUT_HEADER];
  if (asked === undefined) return defaultTimeoutMs;
  const timeoutMs = Number(asked);
  if (typeof asked !== "string" || !/^\d+$/.test(asked) || timeoutMs < 1) {
    throw new GatewayError("invalid", `${TIMEOUT_HEADER} must be a whole number of milliseconds >= 1, got "${asked}"`);
  }
  return Math.min(timeoutMs, defaultTimeoutMs);
}

/**
 * The request's context, as the gRPC edge builds it: a deadline (the client's header capped by the default), the
 * request id (x-request-id, which the server honours and echoes), and a signal that fires at the deadline or when
 * the client goes away before its answer is written.
 */
export function contextOf(request: FastifyRequest, reply: FastifyReply, defaultTimeoutMs: number): ContextScope {
  const scope = openContext({
    deadline: Date.now() + timeoutOf(request, defaultTimeoutMs),
    requestId: request.id,
    trace: extractTrace(request.headers),
  });
  reply.raw.once("close", () => {
    if (!reply.raw.writableEnded) scope.cancel();
  });
  return scope;
}
