/** GET /v1/models, /health and /openapi.json: what the gateway serves, whether it serves, and how to call it. */
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { HttpEdge } from "./edge.js";

const ModelInfo = Type.Object({
  id: Type.String(),
  name: Type.String({ description: "The name requests pass as model (the same as id)" }),
  family: Type.String({ description: "The architecture family: input template and score head" }),
  max_length: Type.Integer({ description: "Most tokens per (query, document) pair, special tokens included" }),
  ready: Type.Boolean({ description: "Whether Triton reports the model ready now" }),
  fallback: Type.Union([Type.String(), Type.Null()], { description: "The model it falls back to; null ends its chain" }),
  default: Type.Boolean({ description: "Used when a request names no model" }),
});

const Health = Type.Object({
  status: Type.Union([Type.Literal("serving"), Type.Literal("not_serving")]),
  default_model: Type.String(),
  default_model_ready: Type.Boolean(),
  draining: Type.Boolean(),
});

export function gatewayRoutes(app: FastifyInstance, edge: HttpEdge, isDraining: () => boolean): void {
  app.get(
    "/v1/models",
    {
      schema: {
        summary: "The models served, with readiness",
        tags: ["models"],
        response: { 200: Type.Object({ models: Type.Array(ModelInfo) }) },
      },
    },
    async () => ({
      models: edge.models().map((model) => ({
        id: model.name,
        name: model.name,
        family: model.family,
        max_length: model.maxLength,
        ready: model.ready,
        fallback: model.fallback,
        default: model.isDefault,
      })),
    }),
  );
  app.get(
    "/health",
    {
      schema: {
        summary: "200 while the default model is ready and the gateway is not draining, else 503",
        tags: ["health"],
        response: { 200: Health, 503: Health },
      },
    },
    async (_request, reply) => {
      const model = edge.models().find((candidate) => candidate.isDefault)!;
      const serving = model.ready && !isDraining();
      reply.code(serving ? 200 : 503);
      return {
        status: serving ? "serving" : "not_serving",
        default_model: model.name,
        default_model_ready: model.ready,
        draining: isDraining(),
      };
    },
  );
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
