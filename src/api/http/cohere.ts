/**
 * POST /v1/rerank and /v2/rerank: Cohere's rerank API (v1 and v2), which Jina's /v1/rerank shares, so that their
 * SDKs and clients work against the gateway by changing the base URL. Field names and shapes follow the
 * cohere-python SDK's request and response types.
 */
import type { FastifyInstance } from "fastify";
import { Type, type Static } from "typebox";
import type { RerankOutcome } from "../reranker.js";
import type { RerankInput } from "../validation.js";
import { optionalOrNull, type ErrorShape, type HttpEdge } from "./edge.js";

/** A document is its text, or an object with a `text` field (Cohere v1, Jina); other fields are echoed back. */
const Document = Type.Union([Type.String(), Type.Object({ text: Type.String() }, { additionalProperties: true })]);

const RerankRequest = Type.Object(
  {
    model: optionalOrNull(Type.String({ description: "A model of GET /v1/models; absent or empty: the default model" })),
    query: Type.String(),
    documents: Type.Array(Document, { description: "The candidates, in first-stage order; results name them by index" }),
    top_n: optionalOrNull(Type.Integer({ description: "Return only the best top_n results; absent or 0: all" })),
    return_documents: optionalOrNull(Type.Boolean({ description: "Echo each result's document (default false)" })),
    max_tokens_per_doc: optionalOrNull(
      Type.Integer({
        minimum: 1,
        description:
          "Score a document longer than the model's window in windows, over at most this many of its tokens " +
          "(long_documents SPLIT_MAX). Absent: a long document is truncated to the model's window, and meta.warnings says so",
      }),
    ),
    rank_fields: optionalOrNull(Type.Array(Type.Literal("text"), { description: "Only the text field is ranked" })),
    priority: optionalOrNull(Type.Integer({ description: "Accepted and not used: requests are served in arrival order" })),
  },
  { additionalProperties: false },
);
type RerankRequest = Static<typeof RerankRequest>;

const RerankResponse = Type.Object({
  id: Type.String({ description: "The request id (x-request-id)" }),
  results: Type.Array(
    Type.Object({
      index: Type.Integer(),
      relevance_score: Type.Number(),
      document: Type.Optional(Type.Object({ text: Type.String() }, { additionalProperties: true })),
    }),
    { description: "Sorted by relevance_score, highest first; equal scores keep first-stage order" },
  ),
  meta: Type.Object({
    api_version: Type.Object({ version: Type.String() }),
    billed_units: Type.Object({ search_units: Type.Integer({ description: "Cohere's count: 1 per 100 documents" }) }),
    tokens: Type.Object({ input_tokens: Type.Integer({ description: "Tokens sent to the model, padding excluded" }) }),
    warnings: Type.Optional(Type.Array(Type.String())),
  }),
  usage: Type.Object({ total_tokens: Type.Integer({ description: "Jina's name for meta.tokens.input_tokens" }) }),
  model: Type.String({ description: "The model that scored the request" }),
  degraded: Type.Boolean({ description: "True when a fallback model scored it instead of the one asked for" }),
  degraded_reason: Type.Union([Type.String(), Type.Null()], {
    description: "breaker_open, over_capacity, timeout or primary_unavailable; null when not degraded",
  }),
});
type RerankResponse = Static<typeof RerankResponse>;

/** Cohere's and Jina's error body: Cohere's SDK reads `message`, Jina's (FastAPI) clients read `detail`. */
export const CohereError = Type.Object({ id: Type.String(), message: Type.String(), detail: Type.String() });

const textOf = (document: RerankRequest["documents"][number]) => (typeof document === "string" ? document : document.text);

function toInput(body: RerankRequest): RerankInput {
  const maxTokensPerDocument = body.max_tokens_per_doc ?? 0;
  return {
    query: body.query,
    documents: body.documents.map(textOf),
    model: body.model ?? "",
    topN: body.top_n ?? 0,
    returnDocuments: body.return_documents ?? false,
    // Cohere's API never refuses a long document: it cuts it (to max_tokens_per_doc).
    truncate: true,
    rawScores: false,
    disableFallback: false,
    longDocuments: maxTokensPerDocument > 0 ? "split_max" : "truncate",
    maxTokensPerDocument,
  };
}

/** What the client should know about how its request was served: never a silent truncation or an ignored field. */
function warningsOf(body: RerankRequest, outcome: RerankOutcome, maxLength: number | undefined): string[] {
  const warnings: string[] = [];
  const truncated = outcome.results.filter((result) => result.truncated).map((result) => result.index);
  if (truncated.length > 0 && body.max_tokens_per_doc == null) {
    warnings.push(
      `documents ${truncated.join(", ")}: longer than model ${outcome.model}'s window of ${maxLength} tokens with the ` +
        "query, scored on their first part (set max_tokens_per_doc to score long documents in windows)",
    );
  }
  if (body.priority != null) warnings.push("priority is not used: this gateway serves requests in arrival order");
  return warnings;
}

/** Cohere's billing unit: a query with up to 100 documents. */
const DOCUMENTS_PER_SEARCH_UNIT = 100;

function toResponse(
  body: RerankRequest,
  outcome: RerankOutcome,
  version: string,
  requestId: string,
  maxLength: number | undefined,
): RerankResponse {
  const warnings = warningsOf(body, outcome, maxLength);
  const echo = (index: number) => {
    const document = body.documents[index]!;
    return typeof document === "string" ? { text: document } : document;
  };
  return {
    id: requestId,
    results: outcome.results.map((result) => ({
      index: result.index,
      relevance_score: result.score,
      ...(result.document === undefined ? {} : { document: echo(result.index) }),
    })),
    meta: {
      api_version: { version },
      billed_units: { search_units: Math.ceil(body.documents.length / DOCUMENTS_PER_SEARCH_UNIT) },
      tokens: { input_tokens: outcome.usage.tokens },
      ...(warnings.length > 0 ? { warnings } : {}),
    },
    usage: { total_tokens: outcome.usage.tokens },
    model: outcome.model,
    degraded: outcome.degradedReason !== undefined,
    degraded_reason: outcome.degradedReason ?? null,
  };
}

export function cohereRoutes(app: FastifyInstance, edge: HttpEdge): void {
  const errorShape: ErrorShape = "cohere";
  for (const version of ["1", "2"]) {
    app.post<{ Body: RerankRequest }>(
      `/v${version}/rerank`,
      {
        config: { errorShape },
        schema: {
          summary: version === "1" ? "Rerank (Cohere v1 and Jina)" : "Rerank (Cohere v2)",
          tags: ["rerank"],
          body: RerankRequest,
          response: { 200: RerankResponse, "4xx": CohereError, "5xx": CohereError },
        },
      },
      async (request, reply) => {
        const outcome = await edge.rerank(request, reply, toInput(request.body));
        const maxLength = edge.models().find((model) => model.name === outcome.model)?.maxLength;
        return toResponse(request.body, outcome, version, request.id, maxLength);
      },
    );
  }
}
