import type { Registry } from "../catalog/registry.js";
import { GatewayError } from "../errors.js";

/** A rerank request as either API hands it over (the gRPC RerankRequest has this shape). */
export interface RerankInput {
  query: string;
  documents: string[];
  /** Empty selects the default model. */
  model: string;
  /** 0 means all results. */
  topN: number;
  returnDocuments: boolean;
  truncate: boolean;
  rawScores: boolean;
  disableFallback: boolean;
  /** LONG_DOCUMENTS: what to do with a document longer than the model's window (validated). */
  longDocuments: string;
  /** With split_max: at most this many tokens of each document are scored (0: all). */
  maxTokensPerDocument: number;
}

/** The answers to a document longer than the model's window. */
export const LONG_DOCUMENTS = ["truncate", "split_max"] as const;

/** A rerank request that passed every check; its model is a served model's name (the default resolved). */
export type ValidRerank = Readonly<RerankInput>;

const isBlank = (text: string) => text.trim().length === 0;
const invalid = (message: string) => new GatewayError("invalid", message);

/** RERANK_MAX_DOCUMENT_BYTES's default (src/config/config.ts): 1 MiB. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024;

export function validateRerank(
  request: RerankInput,
  registry: Registry,
  maxDocuments: number,
  maxDocumentBytes: number = DEFAULT_MAX_DOCUMENT_BYTES,
): ValidRerank {
  if (isBlank(request.query)) throw invalid("query must not be empty");
  if (request.documents.length === 0) throw invalid("documents must not be empty");
  if (request.documents.length > maxDocuments) {
    throw invalid(`documents: ${request.documents.length} given, at most ${maxDocuments} per request`);
  }
  const blank = request.documents.findIndex(isBlank);
  if (blank >= 0) throw invalid(`document ${blank} is empty`);
  request.documents.forEach((document, index) => {
    // A UTF-16 code unit is at most 3 UTF-8 bytes: a string of up to a third of the limit cannot pass it.
    const bytes = document.length * 3 > maxDocumentBytes ? Buffer.byteLength(document) : 0;
    if (bytes > maxDocumentBytes) {
      throw invalid(`document ${index} is ${bytes} bytes, over the limit of ${maxDocumentBytes} bytes per document`);
    }
  });
  if (request.topN < 0) throw invalid(`top_n must be >= 0 (0 returns all results), got ${request.topN}`);
  const model = request.model || registry.defaultModel;
  if (!registry.models.has(model)) {
    throw new GatewayError(
      "not_found",
      `model "${model}" is not served here; available models: ${[...registry.models.keys()].join(", ")}`,
    );
  }
  if (!(LONG_DOCUMENTS as readonly string[]).includes(request.longDocuments)) {
    throw invalid(`long_documents: "${request.longDocuments}" is not one of ${LONG_DOCUMENTS.join(", ")}`);
  }
  const maxTokens = request.maxTokensPerDocument;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) {
    throw invalid(`max_tokens_per_document must be an integer >= 0 (0 scores whole documents), got ${maxTokens}`);
  }
  if (maxTokens > 0 && request.longDocuments !== "split_max") {
    throw invalid("max_tokens_per_document applies to long_documents=split_max; set that, or leave it 0");
  }
  return {
    query: request.query,
    documents: request.documents,
    model,
    topN: request.topN,
    returnDocuments: request.returnDocuments,
    truncate: request.truncate,
    rawScores: request.rawScores,
    disableFallback: request.disableFallback,
    longDocuments: request.longDocuments,
    maxTokensPerDocument: request.maxTokensPerDocument,
  };
}
