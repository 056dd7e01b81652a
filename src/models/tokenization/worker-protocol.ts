import type { EncodedBatch } from "./encoded-batch.js";
import type { TokenizationSpec } from "./encoder.js";
import { TokenizationError, type TokenizationErrorCode } from "./truncation.js";

/** What TokenizerPool (main thread) asks of worker.ts. */
export type WorkerTask =
  | { readonly kind: "prepare"; readonly spec: TokenizationSpec }
  | { readonly kind: "encode"; readonly spec: TokenizationSpec; readonly query: string; readonly documents: readonly string[] };

export type WorkerRequest = WorkerTask & { readonly id: number };

export type WorkerResponse =
  { readonly id: number; readonly batch?: EncodedBatch } | { readonly id: number; readonly error: WireError };

/** Structured clone drops an Error's class and own fields, so errors cross as plain data. */
export interface WireError {
  readonly message: string;
  readonly code?: TokenizationErrorCode;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof TokenizationError) {
    return { message: error.message, code: error.code };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}
