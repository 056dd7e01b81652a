/**
 * long_documents=split_max against its reference (test/fixtures-build/goldens/split.py, written by
 * make_split_goldens.py with each family's reference tokenizer and pair building): for every golden model, documents
 * of about 1,000 to 5,000 tokens, whole and cut by max_tokens_per_document, and a long query. The in-process
 * PairEncoder must give exactly the reference's rows (every window's ids, in order) and truncated flags; the built
 * pool the same rows with its token cache cold and warm, after the same documents were cached for truncation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unpackPairs } from "../../bench/hf-reference.js";
import type { EncodedRows } from "../../src/tokenization/encoded-rows.js";
import { PairEncoder, type TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { TokenizerPool } from "../../src/tokenization/pool.js";
import type { SplitOptions } from "../../src/tokenization/windows.js";
import { importBuiltPool } from "../support/built-pool.js";
import { GOLDEN_FAMILIES, removeScratch, specOf } from "./golden-tokenizers.js";
import { splitGoldens, splitRequests, type SplitGolden, type SplitRequest } from "./split-goldens.js";

/** No bound: the goldens' requests make a few hundred windows at most. */
const UNBOUNDED = 1_000_000;
const splitOf = (request: SplitRequest): SplitOptions => ({
  maxTokensPerDocument: request.maxTokensPerDocument,
  maxWindows: UNBOUNDED,
});

interface Rows {
  readonly ids: number[][];
  readonly typeIds?: number[][];
  readonly windows: number[];
  readonly truncated: boolean[];
}

/** The reference's rows of one request, as the gateway lays them out: a bi-encoder's query row, then the windows. */
function expectedRows(golden: SplitGolden, index: number): Rows {
  const { queryInputIds, documents } = golden.requests[index]!;
  const windows = documents.flatMap((document) => document.windows);
  return {
    ids: [...(queryInputIds ? [queryInputIds] : []), ...windows.map((window) => window.inputIds)],
    ...(golden.family === "bert" && { typeIds: windows.map((window) => window.tokenTypeIds!) }),
    windows: documents.map((document) => document.windows.length),
    truncated: documents.map((document) => document.truncated),
  };
}

function actualRows(golden: SplitGolden, rows: EncodedRows): Rows {
  const unpacked = unpackPairs(rows);
  const windows = Array.from(rows.windows ?? []);
  const documentRows = unpacked.slice(golden.family === "bi-encoder" ? 1 : 0);
  let first = 0;
  const truncated = windows.map((count) => {
    const flags = documentRows.slice(first, (first += count)).map((row) => row.truncated);
    return flags.some(Boolean);
  });
  return {
    ids: unpacked.map((row) => row.ids),
    ...(golden.family === "bert" && { typeIds: documentRows.map((row) => row.typeIds ?? []) }),
    windows,
    truncated,
  };
}

afterAll(removeScratch);

it("covers every family, long documents in many windows, max_tokens_per_document and documents that fit", () => {
  expect(splitGoldens.map((golden) => golden.family).sort()).toEqual(GOLDEN_FAMILIES);
  expect(splitRequests.some((request) => request.maxTokensPerDocument > 0)).toBe(true);
  for (const golden of splitGoldens) {
    const documents = golden.requests.flatMap((request) => request.documents);
    expect(Math.max(...documents.map((document) => document.windows.length)), golden.model).toBeGreaterThan(10);
    expect(
      documents.some((document) => document.windows.length === 1 && !document.truncated),
      golden.model,
    ).toBe(true);
    expect(
      documents.some((document) => document.truncated),
      golden.model,
    ).toBe(true);
  }
});

describe.each(splitGoldens.map((golden) => [golden.model, golden] as const))("%s", (_, golden) => {
  let spec: TokenizationSpec;
  beforeAll(() => {
    spec = specOf(golden);
  });

  it("PairEncoder gives the reference's windows, ids and truncated flags", async () => {
    const encoder = new PairEncoder();
    for (const [index, request] of splitRequests.entries()) {
      const rows = await encoder.encodeRows(spec, request.query, request.documents, splitOf(request));
      expect(actualRows(golden, rows), `request ${index}`).toEqual(expectedRows(golden, index));
    }
  });
});

describe("TokenizerPool (built worker threads)", () => {
  let pool: TokenizerPool | undefined;
  beforeAll(async () => {
    const TokenizerPool = await importBuiltPool();
    pool = new TokenizerPool(2, { cacheBytes: 64 * 1024 * 1024, chunkLimits: { documents: 2, bytes: 64 * 1024 } });
  });
  afterAll(() => pool?.close());

  it.each(splitGoldens.map((golden) => [golden.model, golden] as const))(
    "%s: the reference's rows across chunks, cache cold and warm, beside truncated requests",
    async (_, golden) => {
      const spec = specOf(golden);
      for (const [index, request] of splitRequests.entries()) {
        // The same documents' capped parts (truncation) are cached first: split requests must not take them.
        await pool!.encodeRows(spec, request.query, request.documents);
        for (const cache of ["cold", "warm"]) {
          const rows = await pool!.encodeRows(spec, request.query, request.documents, splitOf(request));
          expect(actualRows(golden, rows), `request ${index}, cache ${cache}`).toEqual(expectedRows(golden, index));
        }
      }
    },
  );
});
