/**
 * The HTTP/JSON edge of the Reranker (fastify): Cohere's and Jina's rerank API, text-embeddings-inference's, the
 * model list, health and the OpenAPI document. Bodies are checked against their JSON schemas before any gateway
 * code runs; everything else (validation, routing, metrics, error kinds) is the Reranker's, as on gRPC.
 */
import { randomUUID } from "node:crypto";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyError, type FastifyReply } from "fastify";
import type { Static } from "typebox";
import type { Access } from "../auth/access.js";
import type { GatewayHealth } from "../health.js";
import type { Reranker } from "../reranker.js";
import { teiFailure, toHttpFailure, type HttpFailure } from "../status.js";
import type { ListenerTls } from "../tls.js";
import { requireApiKeys } from "./auth.js";
import { CohereError, cohereRoutes } from "./cohere.js";
import type { ErrorShape, HttpEdge } from "./edge.js";
import { gatewayRoutes } from "./gateway-routes.js";
import { contextOf, TIMEOUT_HEADER } from "./request-context.js";
import { describeSchemaErrors } from "./schema-errors.js";
import { teiRoutes } from "./tei.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Which API's error body the route answers with (Cohere/Jina's by default). */
    errorShape?: ErrorShape;
  }
}

export interface HttpServerOptions {
  /** host:port (RERANK_HTTP_LISTEN). */
  listenAddress: string;
  /** The largest request body (RERANK_MAX_MESSAGE_BYTES); a larger one is refused with 413 before it is parsed. */
  maxMessageBytes: number;
  /** The bound on every request (RERANK_DEFAULT_TIMEOUT_MS). */
  defaultTimeoutMs: number;
  /** Absent: plaintext HTTP. */
  tls?: ListenerTls;
  /** API keys and quotas; GET /health and /openapi.json stay open. */
  access: Access;
}

export interface HttpServer {
  port: number;
  /** Stops accepting connections and resolves once the requests in flight are answered. */
  close(): Promise<void>;
  /** Drops every connection, answered or not (when close() has waited too long). */
  forceClose(): void;
}

const REQUEST_ID_HEADER = "x-request-id";

function sendFailure(reply: FastifyReply, failure: HttpFailure, body: object): FastifyReply {
  if (failure.retryAfterSeconds !== undefined) reply.header("retry-after", String(failure.retryAfterSeconds));
  // RFC 9110: a 401 names the scheme the client should use.
  if (failure.kind === "unauthenticated") reply.header("www-authenticate", "Bearer");
  return reply.code(failure.status).send(body);
}

/** host:port, [v6]:port or :port (all interfaces). */
function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`RERANK_HTTP_LISTEN must be host:port, got "${address}"`);
  }
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port };
}

/**
 * GET /health follows `health`: 503 once it drains, as the gRPC health service goes NOT_SERVING. Over TLS, a new
 * certificate from `options.tls` serves every handshake after it; open connections keep theirs.
 */
export async function startHttpServer(
  options: HttpServerOptions,
  health: GatewayHealth,
  reranker: Reranker,
): Promise<HttpServer> {
  const { tls, access } = options;
  const app = Fastify({
    https: tls ? tls.serverOptions() : null,
    bodyLimit: options.maxMessageBytes,
    requestIdHeader: REQUEST_ID_HEADER,
    genReqId: () => randomUUID(),
    logger: false,
    // Fastify's defaults coerce types ("5" for 5) and drop unknown fields: a request is taken as sent or refused.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true } },
    schemaErrorFormatter: describeSchemaErrors,
  });
  const edge: HttpEdge = {
    async rerank(request, reply, input) {
      const scope = contextOf(request, reply, options.defaultTimeoutMs);
      try {
        return await access.rerank(request.caller, input.documents.length, () => reranker.rerank(input, scope.context, "http"));
      } finally {
        scope.close();
      }
    },
    models: () => reranker.models(),
  };

  await app.register(swagger, {
    openapi: {
      info: {
        title: "rerank-gateway HTTP API",
        description:
          `Cohere (v1, v2), Jina and text-embeddings-inference compatible reranking. Headers: ${REQUEST_ID_HEADER} ` +
          `(echoed), ${TIMEOUT_HEADER} (shortens the request's deadline).`,
        version: "1",
      },
    },
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  requireApiKeys(app, access);
  // Fastify's own message for an over-large body does not say what the limit is.
  const explained = (error: unknown) =>
    (error as FastifyError).code === "FST_ERR_CTP_BODY_TOO_LARGE"
      ? { statusCode: 413, message: `the request body is over the limit of ${options.maxMessageBytes} bytes` }
      : error;
  app.setErrorHandler((rawError, request, reply) => {
    const error = explained(rawError);
    const method = `${request.method} ${request.routeOptions.url ?? request.url}`;
    if (request.routeOptions.config.errorShape === "tei") {
      const failure = teiFailure(error, request.id, method);
      return sendFailure(reply, failure, { error: failure.message, error_type: failure.errorType });
    }
    const failure = toHttpFailure(error, request.id, method);
    return sendFailure(reply, failure, { id: request.id, message: failure.message, detail: failure.message });
  });
  app.setNotFoundHandler((request, reply) => {
    const message = `no route ${request.method} ${request.url}; see GET /openapi.json`;
    reply.code(404).send({ id: request.id, message, detail: message } satisfies Static<typeof CohereError>);
  });
  cohereRoutes(app, edge);
  teiRoutes(app, edge);
  gatewayRoutes(app, edge, () => health.draining);

  await app.listen(hostAndPort(options.listenAddress));
  tls?.onChange((context) => app.server.setSecureContext(context));
  const address = app.server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: () => app.close(),
    forceClose: () => app.server.closeAllConnections(),
  };
}
