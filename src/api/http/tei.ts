/**
 * POST /rerank: text-embeddings-inference's rerank route (router/src/http/server.rs and types.rs), with its
 * field names, defaults and answer: the ranks sorted by score, highest first.
 */
import type { FastifyInstance } from "fastify";
import { Type, type Static } from "typebox";
import type { RerankInput } from "../validation.js";
import { optionalOrNull, type ErrorShape, type HttpEdge } from "./edge.js";

const RerankRequest = Type.Object(
  {
    query: Type.String(),
    texts: Type.Array(Type.String(), { minItems: 1 }),
    truncate: optionalOrNull(
      Type.Boolean({ description: "Cut pairs over the model's maximum length (default false, TEI's without --auto-truncate)" }),
    ),
    truncation_direction: Type.Optional(
      Type.Union([Type.Literal("right"), Type.Literal("Right")], {
        description: "Only right: pairs are cut as the model's reference library cuts them",
      }),
    ),
    raw_scores: Type.Optional(Type.Boolean({ description: "The model's logits instead of normalized scores (default false)" })),
    return_text: Type.Optional(Type.Boolean({ description: "Echo each text (default false)" })),
    model: optionalOrNull(Type.String({ description: "This gateway's addition: a model of GET /v1/models (default model)" })),
  },
  { additionalProperties: false },
);
type RerankRequest = Static<typeof RerankRequest>;

const RerankResponse = Type.Array(
  Type.Object({ index: Type.Integer(), score: Type.Number(), text: Type.Optional(Type.String()) }),
  { description: "Sorted by score, highest first; equal scores keep first-stage order" },
);

/** TEI's error body (router/src/lib.rs ErrorResponse). */
const TeiError = Type.Object({ error: Type.String(), error_type: Type.String() });

function toInput(body: RerankRequest): RerankInput {
  return {
    query: body.query,
    documents: body.texts,
    model: body.model ?? "",
    topN: 0,
    returnDocuments: body.return_text ?? false,
    truncate: body.truncate ?? false,
    rawScores: body.raw_scores ?? false,
    disableFallback: false,
    longDocuments: "truncate",
    maxTokensPerDocument: 0,
  };
}

export function teiRoutes(app: FastifyInstance, edge: HttpEdge): void {
  const errorShape: ErrorShape = "tei";
  app.post<{ Body: RerankRequest }>(
    "/rerank",
    {
      config: { errorShape },
      schema: {
        summary: "Rerank (text-embeddings-inference)",
        tags: ["rerank"],
        body: RerankRequest,
        response: { 200: RerankResponse, "4xx": TeiError, "5xx": TeiError },
      },
    },
    async (request, reply) => {
      const outcome = await edge.rerank(request, reply, toInput(request.body));
      return outcome.results.map((result) => ({ index: result.index, score: result.score, text: result.document }));
    },
  );
}
