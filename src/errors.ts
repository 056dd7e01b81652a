/**
 * The gateway's one error type. Every layer below the API speaks in kinds; src/api/status.ts maps a kind to a gRPC
 * status once, at the edge (as TEI converts its errors in one place).
 */
export type ErrorKind =
  /** The request is malformed or cannot be served as asked (too long, empty, out of range). */
  | "invalid"
  /** The request carries no API key, or one the gateway does not know (only while API keys are on). */
  | "unauthenticated"
  /** It names something that does not exist here (a model). */
  | "not_found"
  /** Every model that could take it is at capacity, or its API key is over its quota: retry later (retryAfterMs). */
  | "overloaded"
  /** No backend could score it now: Triton down, model not loaded, breaker open. */
  | "unavailable"
  /** The client's deadline passed. */
  | "timeout"
  /** The client cancelled. */
  | "cancelled"
  /** A failure inside the gateway or the model; the message is safe to show (no stack, no internals). */
  | "internal";

export class GatewayError extends Error {
  override readonly name = "GatewayError";

  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** How soon retrying may succeed; set with "overloaded". */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Kinds the request itself caused: they say nothing about a model's health, so they never trip a breaker, and a
 * smaller model would fail the same way, so they end the request instead of falling back.
 */
const REQUEST_CAUSED: ReadonlySet<ErrorKind> = new Set(["invalid", "unauthenticated", "not_found", "timeout", "cancelled"]);

export function isRequestCaused(error: unknown): boolean {
  return error instanceof GatewayError && REQUEST_CAUSED.has(error.kind);
}
