import type { TokenizationSpec } from "./encoder.js";
import type { EncodedRows } from "./encoded-rows.js";
import type { DocumentIds } from "./token-cache.js";
import type { SplitOptions } from "./windows.js";
import { GatewayError, type ErrorKind } from "../errors.js";

/** What TokenizerPool (main thread) asks of worker.ts. */
export type WorkerTask =
  | { readonly kind: "prepare"; readonly spec: TokenizationSpec }
  | {
      readonly kind: "encode";
      readonly spec: TokenizationSpec;
      readonly query: string;
      /** Per document its text, or null where `known` holds its part (the pool's cache). */
      readonly documents: readonly (string | null)[];
      readonly known?: PackedParts;
      /** Whether to send back the parts of the documents it tokenized, for the pool's cache. */
      readonly returnParts: boolean;
      /** long_documents=split_max: documents split into windows. */
      readonly split?: SplitOptions;
    };

export type WorkerRequest = WorkerTask & { readonly id: number };

/** A worker's answer: rows (and parts), or the documents whose text it needs, or an error. */
export type WorkerResult =
  { readonly rows?: EncodedRows; readonly parts?: PackedParts } | { readonly missing: readonly number[] };

export type WorkerResponse = (WorkerResult & { readonly id: number }) | { readonly id: number; readonly error: WireError };

/** Documents' parts by document index, in flat arrays that cross the worker boundary by transfer. */
export interface PackedParts {
  readonly indices: Int32Array;
  /** indices.length + 1 entries: part i's ids are ids[offsets[i], offsets[i + 1]). */
  readonly offsets: Int32Array;
  readonly ids: Int32Array;
  /** Bit 0: cut; bit 1: whole. */
  readonly flags: Uint8Array;
}

export function packParts(parts: ReadonlyMap<number, DocumentIds>): PackedParts {
  const entries = [...parts];
  const offsets = new Int32Array(entries.length + 1);
  entries.forEach(([, part], index) => (offsets[index + 1] = offsets[index]! + part.ids.length));
  const ids = new Int32Array(offsets[entries.length]!);
  entries.forEach(([, part], index) => ids.set(part.ids, offsets[index]));
  return {
    indices: Int32Array.from(entries, ([index]) => index),
    offsets,
    ids,
    flags: Uint8Array.from(entries, ([, part]) => (part.cut ? 1 : 0) | (part.whole ? 2 : 0)),
  };
}

/** The parts, their ids views into the packed array. */
export function unpackParts(packed: PackedParts | undefined): Map<number, DocumentIds> {
  const parts = new Map<number, DocumentIds>();
  packed?.indices.forEach((documentIndex, index) => {
    const flags = packed.flags[index]!;
    const ids = packed.ids.subarray(packed.offsets[index], packed.offsets[index + 1]);
    parts.set(documentIndex, { ids, cut: (flags & 1) !== 0, whole: (flags & 2) !== 0 });
  });
  return parts;
}

/** The buffers to list in postMessage's transfer list. */
export function packedTransferables(packed: PackedParts | undefined): ArrayBuffer[] {
  return packed ? [packed.indices, packed.offsets, packed.ids, packed.flags].map((array) => array.buffer as ArrayBuffer) : [];
}

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
