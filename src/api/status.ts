import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { GatewayError, type ErrorKind } from "../errors.js";
import { log } from "../observability/logger.js";

/** The one place an error kind becomes a gRPC status. */
export const GRPC_STATUS: Record<ErrorKind, status> = {
  invalid: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  overloaded: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  timeout: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  internal: status.INTERNAL,
};

/** The gRPC status name of an error ("INVALID_ARGUMENT"): the code label of the request metrics on both APIs. */
export function statusName(error: unknown): string {
  return status[error instanceof GatewayError ? GRPC_STATUS[error.kind] : status.INTERNAL];
}

/**
 * The gRPC error a client gets. A GatewayError keeps its message (written for clients) and, when overloaded,
 * carries its retry hint as trailers that gRPC retry policies honour. Anything else is a bug: the client gets
 * INTERNAL with the request id only, and the log gets the stack under the same id.
 */
export function toServiceError(error: unknown, requestId: string, method: string): Partial<ServiceError> {
  if (error instanceof GatewayError) {
    const metadata = new Metadata();
    if (error.retryAfterMs !== undefined) {
      metadata.set("retry-after-ms", String(error.retryAfterMs));
      metadata.set("grpc-retry-pushback-ms", String(error.retryAfterMs));
    }
    return { code: GRPC_STATUS[error.kind], details: error.message, metadata };
  }
  log.error("unexpected error", { method, requestId, error: (error as Error)?.stack ?? String(error) });
  return { code: status.INTERNAL, details: `internal error (request id ${requestId})` };
}
