import { status } from "@grpc/grpc-js";

/** An error that maps to one gRPC status; anything else thrown in a handler becomes INTERNAL. */
export class GatewayError extends Error {
  constructor(
    readonly code: status,
    message: string,
    /** Sent as response trailers, e.g. a retry hint with RESOURCE_EXHAUSTED. */
    readonly trailers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }
}

export const invalidArgument = (message: string) => new GatewayError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new GatewayError(status.NOT_FOUND, message);
export const unavailable = (message: string) => new GatewayError(status.UNAVAILABLE, message);
export const deadlineExceeded = (message: string) => new GatewayError(status.DEADLINE_EXCEEDED, message);
