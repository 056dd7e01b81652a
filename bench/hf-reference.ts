/**
 * Reference encodings from Python `tokenizers` (hf_reference.py, run live), and the gateway's rows in the same
 * shape, for the tokenization parity tests and bench/tokenizers.ts.
 */
import { spawnSync } from "node:child_process";
import { isAbsolute, join } from "node:path";
import type { TokenizationSpec } from "../src/tokenization/encoder.js";
import type { EncodedRows } from "../src/tokenization/encoded-rows.js";
import { packageRoot } from "../src/config/paths.js";

const root = packageRoot();

export interface PairRequest {
  readonly query: string;
  readonly documents: readonly string[];
}

/** One (query, document) pair as HF encodes it, or the error HF raised for it. */
export type ReferencePair =
  { readonly ids: number[]; readonly typeIds: number[]; readonly truncated: boolean } | { readonly error: string };

export interface ReferenceEncodings {
  readonly tokenizersVersion: string;
  /** Per request, per document. */
  readonly requests: ReferencePair[][];
}

/**
 * Runs a python script of the repository with RERANK_PYTHON, or the project venv's python (which has
 * `tokenizers`), and returns its stdout; a failure names the script, the python and why.
 */
export function runPython(script: string, args: readonly string[] = [], input?: string): string {
  const configured = process.env.RERANK_PYTHON ?? ".venv/bin/python";
  const python = isAbsolute(configured) || !configured.includes("/") ? configured : join(root, configured);
  const run = spawnSync(python, [join(root, script), ...args], { input, maxBuffer: 1 << 30, encoding: "utf8" });
  if (run.error || run.status !== 0) {
    // A python without `tokenizers` exits before reading stdin: its stderr says more than the EPIPE.
    const why = run.stderr?.trim() || run.error?.message || `exit code ${run.status}`;
    throw new Error(`${script} failed under ${python} (RERANK_PYTHON, a python with \`tokenizers\`): ${why}`);
  }
  return run.stdout;
}

export function hfReference(spec: Omit<TokenizationSpec, "family">, requests: readonly PairRequest[]): ReferenceEncodings {
  const output = runPython(join("bench", "hf_reference.py"), [], JSON.stringify({ ...spec, requests }));
  return JSON.parse(output) as ReferenceEncodings;
}

/** Encoded rows as plain arrays, the shape the reference has. */
export function unpackPairs(batch: EncodedRows): { ids: number[]; typeIds: number[] | null; truncated: boolean }[] {
  return Array.from(batch.truncated, (truncated, pair) => {
    const [begin, end] = [batch.offsets[pair], batch.offsets[pair + 1]];
    return {
      ids: Array.from(batch.ids.subarray(begin, end)),
      typeIds: batch.typeIds && Array.from(batch.typeIds.subarray(begin, end)),
      truncated: truncated === 1,
    };
  });
}
