import type { Metadata, ServerUnaryCall } from "@grpc/grpc-js";
import { openContext, type ContextScope } from "../context.js";
import { extractTrace } from "../observability/tracing.js";

/** Clients may name their request for log correlation; otherwise the gateway names it. */
const REQUEST_ID_HEADER = "x-request-id";

/** Reads a client's W3C traceparent / tracestate from gRPC metadata. */
const metadataGetter = {
  keys: (metadata: Metadata) => Object.keys(metadata.getMap()),
  get: (metadata: Metadata, key: string) => metadata.get(key).map(String),
};

/**
 * The request's context, built once per call: the client's deadline capped by the gateway's default (so a call
 * without one cannot hang forever), and a signal that fires on the client's cancel and at that deadline.
 */
export function contextOf(call: ServerUnaryCall<unknown, unknown>, defaultTimeoutMs: number): ContextScope {
  const fallback = Date.now() + defaultTimeoutMs;
  const clientDeadline = call.getDeadline();
  const clientMs = clientDeadline instanceof Date ? clientDeadline.getTime() : clientDeadline;
  const requestId = call.metadata.get(REQUEST_ID_HEADER)[0]?.toString();
  const scope = openContext({
    deadline: Number.isFinite(clientMs) ? Math.min(clientMs, fallback) : fallback,
    requestId,
    trace: extractTrace(call.metadata, metadataGetter),
  });
  call.once("cancelled", scope.cancel);
  return scope;
}
