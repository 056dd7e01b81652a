import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { GatewayError, type ErrorKind } from "../errors.js";
import { log } from "../observability/logger.js";

/** The one place an error kind becomes a gRPC status. */
export const GRPC_STATUS: Record<ErrorKind, status> = {
  invalid: status.INVALID_ARGUMENT,
  unauthenticated: status.UNAUTHENTICATED,
  not_found: status.NOT_FOUND,
  overloaded: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  timeout: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  internal: status.INTERNAL,
};

/** The one place an error kind becomes an HTTP status (the Cohere/Jina routes; TEI's differs in teiFailure). */
export const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  not_found: 404,
  overloaded: 429,
  unavailable: 503,
  timeout: 504,
  // nginx's "client closed request", which Cohere's API and SDK (ClientClosedRequestError) use too.
  cancelled: 499,
  internal: 500,
};

/** The gRPC status name of an error ("INVALID_ARGUMENT"): the code label of the request metrics on both APIs. */
export function statusName(error: unknown): string {
  return status[error instanceof GatewayError ? GRPC_STATUS[error.kind] : status.INTERNAL];
}

/** Anything but a GatewayError is a bug: its stack goes to the log under the request id, which alone goes out. */
function internalMessage(error: unknown, requestId: string, method: string): string {
  log.error("unexpected error", { method, requestId, error: (error as Error)?.stack ?? String(error) });
  return `internal error (request id ${requestId})`;
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
  return { code: status.INTERNAL, details: internalMessage(error, requestId, method) };
}

/** What an HTTP client gets for a failed request, before a route shapes the body. */
export interface HttpFailure {
  status: number;
  kind: ErrorKind;
  message: string;
  /** The Retry-After header (whole seconds, rounded up), when shedding load. */
  retryAfterSeconds?: number;
}

/** An error the HTTP framework raised itself, before any gateway code ran (its statusCode is the one it chose). */
interface TransportRefusal {
  statusCode: number;
  message: string;
  /** Set when the body failed its JSON schema: one entry per failed keyword. */
  validation?: { keyword: string }[];
}

const isTransportRefusal = (error: unknown): error is TransportRefusal =>
  typeof (error as TransportRefusal)?.statusCode === "number" &&
  (error as TransportRefusal).statusCode >= 400 &&
  (error as TransportRefusal).statusCode < 500;

/**
 * The HTTP failure of an error: a GatewayError by its kind; the framework's own refusals (a body over the size
 * limit: 413, not JSON: 400 or 415, failing its schema: 400) keep their status as invalid input; anything else
 * is a bug, answered 500 with the request id only, like gRPC's INTERNAL.
 */
export function toHttpFailure(error: unknown, requestId: string, method: string): HttpFailure {
  if (error instanceof GatewayError) {
    const retryAfterSeconds = error.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(error.retryAfterMs / 1000));
    return { status: HTTP_STATUS[error.kind], kind: error.kind, message: error.message, retryAfterSeconds };
  }
  if (isTransportRefusal(error)) return { status: error.statusCode, kind: "invalid", message: error.message };
  return { status: HTTP_STATUS.internal, kind: "internal", message: internalMessage(error, requestId, method) };
}

/** text-embeddings-inference's error types (router/src/lib.rs ErrorType), by kind. */
const TEI_ERROR_TYPE: Record<ErrorKind, string> = {
  invalid: "Validation",
  // TEI's ErrorType has no member for a refused key: this one names the HTTP status.
  unauthenticated: "Unauthorized",
  not_found: "Validation",
  overloaded: "Overloaded",
  unavailable: "Unhealthy",
  timeout: "Backend",
  cancelled: "Backend",
  internal: "Backend",
};

/** TEI's answer to invalid input that is well-formed JSON: 422 Unprocessable Entity (its Validation type). */
const TEI_INVALID_STATUS = 422;

/**
 * The failure as text-embeddings-inference reports it on POST /rerank ({error, error_type}): invalid input is
 * 422, except an empty `texts` (the schema's minItems), which TEI answers 400 with its Empty type; a body over
 * the size limit stays 413 and malformed JSON 400, as TEI's axum extractors answer them. Other kinds keep their
 * HTTP_STATUS.
 */
export function teiFailure(error: unknown, requestId: string, method: string): HttpFailure & { errorType: string } {
  const failure = toHttpFailure(error, requestId, method);
  if (isTransportRefusal(error) && error.validation?.some((failed) => failed.keyword === "minItems")) {
    return { ...failure, message: "`texts` cannot be empty", errorType: "Empty" };
  }
  const wellFormedButInvalid =
    failure.kind === "invalid" &&
    (error instanceof GatewayError || (isTransportRefusal(error) && error.validation !== undefined));
  return {
    ...failure,
    status: wellFormedButInvalid ? TEI_INVALID_STATUS : failure.status,
    errorType: TEI_ERROR_TYPE[failure.kind],
  };
}
