import type { TokenizationSpec } from "./encoder.js";
import type { EncodedRows } from "./encoded-rows.js";
import { GatewayError, type ErrorKind } from "../errors.js";

/** What TokenizerPool (main thread) asks of worker.ts. */
export type WorkerTask =
  | { readonly kind: "prepare"; readonly spec: TokenizationSpec }
  | { readonly kind: "encode"; readonly spec: TokenizationSpec; readonly query: string; readonly documents: readonly string[] };

export type WorkerRequest = WorkerTask & { readonly id: number };

export type WorkerResponse =
  { readonly id: number; readonly rows?: EncodedRows } | { readonly id: number; readonly error: WireError };

/** Structured clone drops an Error's class and own fields, so errors cross as plain data. */
export interface WireError {
  readonly message: string;
  /** Set when the worker threw a GatewayError (the request's fault, e.g. a query too long to pair). */
  readonly kind?: ErrorKind;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof GatewayError) {
    return { message: error.message, kind: error.kind };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

export function fromWireError(error: WireError): Error {
  return error.kind ? new GatewayError(error.kind, error.message) : new Error(error.message);
}
