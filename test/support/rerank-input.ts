import type { RerankInput } from "../../src/api/validation.js";

/** A RerankInput with every field at its API default (as an empty gRPC request gives), overridden by `fields`. */
export function rerankInput(fields: Partial<RerankInput> = {}): RerankInput {
  return {
    query: "",
    documents: [],
    model: "",
    topN: 0,
    returnDocuments: false,
    truncate: false,
    rawScores: false,
    disableFallback: false,
    longDocuments: "truncate",
    maxTokensPerDocument: 0,
    ...fields,
  };
}
