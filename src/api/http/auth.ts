/** API keys on the HTTP edge: every route but the open ones needs a key while keys are on (src/api/auth/access.ts). */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Access, Caller } from "../auth/access.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Who sent the request (set before its body is read); undefined while API keys are off. */
    caller: Caller;
  }
}

/** Routes anyone may call: load balancers' health checks and the description of the API. */
const OPEN_ROUTES = new Set(["/health", "/openapi.json"]);

const headerOf = (request: FastifyRequest, name: string) => {
  const value = request.headers[name];
  return typeof value === "string" ? value : undefined;
};

/**
 * Authenticates every request but the open routes' before its body is read: a missing or unknown key is 401 (the
 * server's error handler shapes the body per route). An unknown route needs a key too, so that clients without one
 * learn nothing of the routes.
 */
export function requireApiKeys(app: FastifyInstance, access: Access): void {
  app.decorateRequest("caller", undefined);
  app.addHook("onRequest", async (request) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? "")) return;
    request.caller = access.authenticate((name) => headerOf(request, name), "http");
  });
}
